"""Loaders for the bundled real traces (and users' files of the same formats).

* Mooncake JSONL — ``{"timestamp": ms, "input_length", "output_length", "hash_ids"}``
  with 512-token prefix-chained block ids (expanded to 16-token blocks on use).
* Azure LLM inference 2023 CSV — ``TIMESTAMP,ContextTokens,GeneratedTokens``; no
  prefix data, so every request is cache-cold.
* WEKA coding-agent conversations — one JSON file per conversation with 64-token ids
  local to the conversation and times relative to its start; sub-agent requests
  share the parent's id namespace. Conversation start times are drawn (seeded).

Every malformed line raises :class:`WorkloadError` naming the file and line.

>>> reqs = load_mooncake(bundled_path("mooncake_conversation"))
>>> len(reqs), reqs[0].hash_block
(12031, 512)
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import numpy as np

from ..request import Request
from .errors import WorkloadError

__all__ = ["bundled_path", "load_mooncake", "load_azure", "load_weka", "TRACE_DIR"]

TRACE_DIR = Path(__file__).resolve().parent / "traces"
_BUNDLED = {
    "mooncake_conversation": "mooncake_conversation/conversation_trace.jsonl",
    "mooncake_synthetic": "mooncake_synthetic/synthetic_trace.jsonl",
    "azure_llm_2023_code": "azure_llm_2023_code/AzureLLMInferenceTrace_code.csv",
    "azure_llm_2023_conv": "azure_llm_2023_conv/AzureLLMInferenceTrace_conv.csv",
    "weka_claude_code_sample": "weka_claude_code_sample",
}


def bundled_path(name: str) -> Path:
    """Path of a trace shipped with the package (LICENSE and SOURCE.md beside it)."""
    if name not in _BUNDLED:
        raise KeyError(f"no bundled trace {name!r}; bundled: {', '.join(_BUNDLED)}")
    return TRACE_DIR / _BUNDLED[name]


def _need(cond: bool, path: Path, line: int, msg: str) -> None:
    if not cond:
        raise WorkloadError(f"{path}:{line}: {msg}")


def _int_field(obj: dict, key: str, path: Path, line: int, minimum: int = 0) -> int:
    v = obj.get(key)
    _need(isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer(), path, line,
          f"field {key!r} must be an integer, got {v!r}")
    _need(int(v) >= minimum, path, line, f"field {key!r} must be >= {minimum}, got {v}")
    return int(v)


def load_mooncake(path: str | Path) -> list[Request]:
    """Read a Mooncake-format JSONL trace (timestamps in ms)."""
    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"{path}: no such trace file")
    out: list[Request] = []
    with path.open() as fh:
        for ln, raw in enumerate(fh, 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise WorkloadError(f"{path}:{ln}: not valid JSON ({exc.msg})") from None
            _need(isinstance(obj, dict), path, ln, "expected a JSON object")
            ts = obj.get("timestamp")
            _need(isinstance(ts, (int, float)) and not isinstance(ts, bool) and ts >= 0, path, ln,
                  f"field 'timestamp' must be a non-negative number (ms), got {ts!r}")
            inp = _int_field(obj, "input_length", path, ln, 1)
            outl = _int_field(obj, "output_length", path, ln, 0)
            ids = obj.get("hash_ids", [])
            _need(isinstance(ids, list) and all(isinstance(h, int) and not isinstance(h, bool) and h >= 0 for h in ids),
                  path, ln, "field 'hash_ids' must be a list of non-negative integers")
            out.append(Request(rid=len(out), arrival=float(ts) / 1000.0, prompt_len=inp, output_len=max(outl, 1),
                               hash_ids=tuple(ids), hash_block=512))
    if not out:
        raise WorkloadError(f"{path}: the trace has no requests")
    return out


def load_azure(path: str | Path) -> list[Request]:
    """Read an Azure LLM inference 2023 CSV trace; arrivals relative to the first row."""
    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"{path}: no such trace file")
    rows = []
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        _need(header is not None and [h.strip() for h in header[:3]] == ["TIMESTAMP", "ContextTokens", "GeneratedTokens"],
              path, 1, f"expected header TIMESTAMP,ContextTokens,GeneratedTokens, got {header!r}")
        for ln, row in enumerate(reader, 2):
            if not row:
                continue
            _need(len(row) >= 3, path, ln, f"expected 3 columns, got {len(row)}")
            try:
                ts = datetime.fromisoformat(row[0].strip()[:26])
                ctx, gen = int(row[1]), int(row[2])
            except ValueError as exc:
                raise WorkloadError(f"{path}:{ln}: {exc}") from None
            _need(ctx >= 1 and gen >= 0, path, ln, "ContextTokens must be >= 1 and GeneratedTokens >= 0")
            rows.append((ts, ctx, gen))
    if not rows:
        raise WorkloadError(f"{path}: the trace has no requests")
    t0 = min(r[0] for r in rows)
    return [Request(rid=i, arrival=(ts - t0).total_seconds(), prompt_len=ctx, output_len=max(gen, 1))
            for i, (ts, ctx, gen) in enumerate(sorted(rows, key=lambda r: r[0]))]


def _flatten_weka(reqs: list, path: Path, where: str) -> list[dict]:
    out = []
    for i, r in enumerate(reqs):
        _need(isinstance(r, dict), path, 0, f"{where}[{i}] is not an object")
        if r.get("type") == "subagent" or ("requests" in r and "in" not in r):
            base = float(r.get("t", 0.0))
            for sub in _flatten_weka(r.get("requests", []), path, f"{where}[{i}].requests"):
                sub = dict(sub)
                sub["t"] = float(sub.get("t", 0.0)) + (0.0 if sub.get("_abs") else base)
                sub["_abs"] = True
                out.append(sub)
            continue
        for key in ("t", "in", "out"):
            _need(isinstance(r.get(key), (int, float)), path, 0, f"{where}[{i}].{key} must be a number")
        out.append(r)
    return out


def load_weka(path: str | Path, rng: np.random.Generator, mean_gap_s: float = 120.0) -> list[Request]:
    """Read a directory (or one file) of WEKA conversations; conversation start times
    form a Poisson process with mean gap ``mean_gap_s`` drawn from ``rng``."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise WorkloadError(f"{path}: no conversation JSON files found")
    starts = np.cumsum(rng.exponential(mean_gap_s, size=len(files)))
    starts -= starts[0]
    items = []
    for ns, (f, start) in enumerate(zip(files, starts), 1):
        try:
            doc = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise WorkloadError(f"{f}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        _need(isinstance(doc, dict) and isinstance(doc.get("requests"), list), f, 1, "expected an object with 'requests'")
        block = int(doc.get("block_size", 64))
        _need(block % 16 == 0 and block > 0, f, 1, f"block_size must be a positive multiple of 16, got {block}")
        for r in _flatten_weka(doc["requests"], f, "requests"):
            ids = r.get("hash_ids", [])
            items.append((start + float(r["t"]), int(r["in"]), max(int(r["out"]), 1), tuple(ids), block, ns, doc.get("id", f.stem)))
    items.sort(key=lambda x: x[0])
    return [Request(rid=i, arrival=a, prompt_len=max(p, 1), output_len=o, hash_ids=ids, hash_block=b, namespace=ns, session=s)
            for i, (a, p, o, ids, b, ns, s) in enumerate(items)]
