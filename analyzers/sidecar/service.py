"""The sidecar core: feed records to the monitor, write every transition and action.

Events go to a JSON-lines file (appended, flushed per event: nothing is lost on a
crash) and/or as one human line each to a text stream. Every event carries the run id
(``run``) and a sequence number (``seq``, from 1 per run); with a file source also the
byte ``offset`` of the source after the records that caused it, so ``--resume`` can
continue where a run stopped. A closed output stream (``| head``) is dropped, the
events file and the run go on.

>>> import io
>>> from analyzers.detector.monitor import RegimeMonitor
>>> out = io.StringIO()
>>> sc = Sidecar(RegimeMonitor(2), human=out)
>>> sc.feed({"kind": "snapshot", "time": 0.0, "instance": 0, "num_running": 1, "num_waiting": 0, "kv_usage": 0.1})
[]
>>> sc.feed("garbage"), sc.monitor.bad_records["not_an_object"]
([], 1)
"""

from __future__ import annotations

import json
import threading
import time
from typing import IO

from analyzers.detector.monitor import RegimeMonitor
from analyzers.detector.regimes import Transition

from .text import transition_line

__all__ = ["Sidecar", "resume_offset"]


class Sidecar:
    def __init__(self, monitor: RegimeMonitor, *, events: IO[str] | None = None, human: IO[str] | None = None,
                 json_out: IO[str] | None = None, lock: threading.Lock | None = None, run_id: str = "run"):
        """``events``: JSONL file (flushed per event); ``human``: one text line per event;
        ``json_out``: the same JSON lines to a second stream (e.g. stdout with ``--json``)."""
        self.monitor = monitor
        self.events = events
        self.human = human
        self.json_out = json_out
        self.lock = lock or threading.Lock()
        self.run_id = run_id
        self.seq = 0
        self.quiet = False          # replaying for --resume: update state, emit nothing
        self.position: int | None = None  # source byte offset after the records being fed
        self.scraper = None         # set in scrape mode: per-target status
        self._actions_seen = 0
        self._up: dict[int, bool] = {}

    def feed(self, raw) -> list[Transition]:
        """Process one record; never raises on bad input (:meth:`feed_many` of one, unbatched)."""
        with self.lock:
            out = self.monitor.process(raw)
            actions = self._new_actions()
        if not self.quiet and (out or actions):
            self._emit_all(out, actions)
        return out

    def feed_many(self, raws: list, batched: bool = True) -> list[Transition]:
        """Process records in order (decision runs vectorised when ``batched``)."""
        with self.lock:
            out = self.monitor.process_many(raws) if batched else [t for r in raws for t in self.monitor.process(r)]
            actions = self._new_actions()
        if not self.quiet:
            self._emit_all(out, actions)
        return out

    def _new_actions(self) -> list:
        """The policy's actions since the last call (under the lock)."""
        policy = self.monitor.policy
        if policy is None:
            return []
        actions = policy.actions[self._actions_seen:]
        self._actions_seen = len(policy.actions)
        return actions

    def _emit_all(self, out, actions) -> None:
        for tr in out:
            self._emit(tr.to_dict(), transition_line(tr))
        for act in actions:
            self._emit(act.to_dict(), f"[{act.time:9.2f}s] {'':<17} ACTION {act.action}")

    # ------------------------------------------------------------------ scraped targets
    def targets(self) -> list[dict]:
        """Per-target status (scrape mode; empty otherwise): up, reason, age of the last answer."""
        sc = self.scraper
        if sc is None:
            return []
        now = self.monitor.last_time
        return [st.to_dict(now) for st in sc.status]

    def report_targets(self, now: float) -> None:
        """Emit an event when a target goes down or comes back (with the URL and reason)."""
        for st in self.scraper.status if self.scraper is not None else ():
            was = self._up.get(st.instance)
            if was is None and st.up:
                self._up[st.instance] = True
                continue
            if was == st.up:
                continue
            self._up[st.instance] = st.up
            doc = {"kind": "target", "time": now, "instance": st.instance, "url": st.url, "up": st.up,
                   "reason": None if st.up else st.reason}
            line = (f"[{now:9.2f}s] {'instance ' + str(st.instance):<17} {'UP' if st.up else 'DOWN':<5} {st.url}"
                    + ("" if st.up else f": {st.reason}"))
            self._emit(doc, line)

    # ------------------------------------------------------------------ lifecycle
    def start_event(self, info: dict) -> None:
        """A ``start`` line in the events file (not printed): the run id and its source."""
        if self.events is not None:
            self._write(self.events, {"kind": "start", "wall_time": round(time.time(), 3), **info})

    def stop_event(self) -> None:
        """A ``stop`` line in the events file with the source offset reached (for ``--resume``)."""
        if self.events is not None:
            self._write(self.events, {"kind": "stop", "wall_time": round(time.time(), 3),
                                      "records": int(sum(self.monitor.records.values()))})

    def _write(self, stream: IO[str], doc: dict) -> None:
        self.seq += 1
        doc = {**doc, "run": self.run_id, "seq": self.seq}
        if self.position is not None:
            doc["offset"] = self.position
        stream.write(json.dumps(doc, default=_jsonable) + "\n")
        stream.flush()

    def _emit(self, doc: dict, line: str) -> None:
        if self.events is not None:
            self._write(self.events, doc)
        else:
            self.seq += 1
        if self.json_out is not None:
            full = {**doc, "run": self.run_id, "seq": self.seq}
            if self.position is not None:
                full["offset"] = self.position
            self.json_out = _safe_write(self.json_out, json.dumps(full, default=_jsonable) + "\n")
        if self.human is not None:
            self.human = _safe_write(self.human, line + "\n")


def _jsonable(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


def _safe_write(stream: IO[str], text: str) -> IO[str] | None:
    """Write and flush; a closed reader (``BrokenPipeError``) drops the stream for good."""
    try:
        stream.write(text)
        stream.flush()
        return stream
    except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
        try:
            import os
            import sys

            if stream is sys.stdout:  # keep the interpreter's final flush from raising again
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return None


def resume_offset(events_path: str, source: str) -> int:
    """The source byte offset the last run on ``source`` reached, read from its events
    file (``0`` when there is none): the ``offset`` of the latest line of the latest
    run whose ``start`` line names ``source``. Unreadable lines are skipped.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
    ...     _ = fh.write('{"kind": "start", "run": "a", "source": "/s"}\\n{"kind": "stop", "run": "a", "offset": 120}\\n')
    >>> resume_offset(fh.name, "/s"), resume_offset(fh.name, "/other")
    (120, 0)
    >>> os.unlink(fh.name)
    """
    runs: dict[str, int] = {}
    try:
        fh = open(events_path, "rb")
    except OSError:
        return 0
    with fh:
        for line in fh:
            try:
                doc = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if not isinstance(doc, dict):
                continue
            run = doc.get("run")
            if doc.get("kind") == "start" and doc.get("source") == source and isinstance(run, str):
                runs[run] = max(runs.get(run, 0), int(doc.get("resumed_at") or 0))
            off = doc.get("offset")
            if run in runs and isinstance(off, int) and not isinstance(off, bool) and off >= 0:
                runs[run] = max(runs[run], off)
    return max(runs.values(), default=0)
