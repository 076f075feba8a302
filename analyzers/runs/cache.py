"""Results on disk, one JSON file per run, addressed by the run's key.

A file ``<dir>/<key[:2]>/<key>.json`` holds ``{"fn", "config", "label", "seconds",
"result"}``. Writes go to a temporary file in the same directory and are renamed into
place, so an interrupted write never leaves a half file; a file that does not parse
(or belongs to another key) is treated as absent and rewritten.

>>> import tempfile
>>> from analyzers.runs.tasks import Task
>>> c = ResultCache(tempfile.mkdtemp())
>>> t = Task("builtins:dict", {"a": 1})
>>> c.get("ab12")
(False, None)
>>> c.put("ab12", t, {"x": 1.5}, seconds=0.1)
>>> c.get("ab12")
(True, {'x': 1.5})
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .tasks import Task, _plain

__all__ = ["ResultCache"]


class ResultCache:
    """A directory of cached run results."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory).expanduser()

    def _path(self, key: str) -> Path:
        if len(key) < 3 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"cache keys are hex digests, got {key!r}")
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> tuple[bool, Any]:
        """``(True, result)`` if a valid entry exists, else ``(False, None)``."""
        p = self._path(key)
        try:
            doc = json.loads(p.read_text())
        except (OSError, ValueError):
            return False, None
        if not isinstance(doc, dict) or doc.get("key") != key or "result" not in doc:
            return False, None
        return True, doc["result"]

    def put(self, key: str, task: Task, result: Any, seconds: float) -> None:
        """Store ``result`` (JSON data) atomically."""
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        doc = {"key": key, "fn": task.fn, "config": _plain(task.config), "label": task.label,
               "seconds": round(float(seconds), 4), "result": _plain(result)}
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=p.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh, allow_nan=True)
            os.replace(tmp, p)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.dir.glob("??/*.json")) if self.dir.exists() else 0
