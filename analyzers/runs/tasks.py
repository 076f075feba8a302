"""A run as data: the function to call (by import path) and its JSON configuration.

A :class:`Task` names a module-level function ``"package.module:function"`` and the
keyword arguments it is called with. Both are plain data, so a task pickles to any
worker (a local process or a Dask cluster node) and hashes to a stable key:

``key = sha256(canonical JSON of {fn, config, code})`` where ``code`` is a fingerprint
of the source the result depends on (see :func:`code_fingerprint`), so a cached result
is reused only for the same function, the same configuration and the same code.

>>> t = Task("builtins:dict", {"a": 1, "b": [2, 3]}, label="demo")
>>> t.key("code") == Task("builtins:dict", {"b": [2, 3], "a": 1}).key("code")   # key order does not matter
True
>>> t.key("code") != t.key("other code")
True
>>> call_task("builtins:dict", {"a": 1})
{'a': 1}
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["Task", "call_task", "canonical_json", "code_fingerprint", "module_digest"]


def _plain(v: Any) -> Any:
    """Convert to JSON-able plain data; floats that are integers stay floats (hash stability)."""
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if hasattr(v, "item") and callable(v.item):  # numpy scalars
        return _plain(v.item())
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"task configuration values must be JSON data, got {type(v).__name__}")


def canonical_json(obj: Any) -> str:
    """Sorted-key, compact JSON of plain data (the input of every cache key).

    >>> canonical_json({"b": 1.0, "a": (1, 2)})
    '{"a":[1,2],"b":1.0}'
    """
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Task:
    """One run: ``fn`` (``"module:function"``) called with ``**config``; ``label`` is for progress lines."""

    fn: str
    config: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def key(self, code: str) -> str:
        """Cache key: sha256 of the function, its configuration and the code fingerprint."""
        blob = canonical_json({"fn": self.fn, "config": self.config, "code": code})
        return hashlib.sha256(blob.encode()).hexdigest()


def call_task(fn: str, config: Mapping[str, Any]) -> Any:
    """Import ``module:function`` and call it with ``config`` (runs inside a worker)."""
    module, _, name = fn.partition(":")
    if not module or not name:
        raise ValueError(f"task function must look like 'module:function', got {fn!r}")
    return getattr(importlib.import_module(module), name)(**dict(config))


def module_digest(fn: str) -> str:
    """sha256 (16 hex digits) of the source file of the module named in ``module:function``.

    >>> len(module_digest("analyzers.runs.tasks:call_task"))
    16
    """
    module = fn.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    origin = getattr(spec, "origin", None)
    if not origin or not Path(origin).is_file():
        return "builtin"
    return hashlib.sha256(Path(origin).read_bytes()).hexdigest()[:16]


def code_fingerprint(packages: Sequence[str] = ("analyzers", "lmetric_theory")) -> str:
    """sha256 over the ``.py`` source of ``packages`` (path and bytes, sorted), 16 hex digits.

    The simulator, router, detector and theory code every run depends on; with
    :func:`module_digest` of the task's own module it makes the cache key, so a cached
    result is not reused after that code changes (analysis and report code may change
    freely)."""
    h = hashlib.sha256()
    for pkg in packages:
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            base = Path(root)
            for p in sorted(base.rglob("*.py")):
                h.update(f"{pkg}/{p.relative_to(base).as_posix()}".encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]

