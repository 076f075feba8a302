"""The sidecar core: feed records to the monitor, write every transition and action.

Events go to a JSON-lines file (appended, flushed per event: nothing is lost on a
crash) and/or as one human line each to a text stream.

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
from typing import IO

from analyzers.detector.monitor import RegimeMonitor
from analyzers.detector.regimes import Transition

__all__ = ["Sidecar"]


class Sidecar:
    def __init__(self, monitor: RegimeMonitor, *, events: IO[str] | None = None, human: IO[str] | None = None,
                 json_out: IO[str] | None = None, lock: threading.Lock | None = None):
        """``events``: JSONL file (flushed per event); ``human``: one text line per event;
        ``json_out``: the same JSON lines to a second stream (e.g. stdout with ``--json``)."""
        self.monitor = monitor
        self.events = events
        self.human = human
        self.json_out = json_out
        self.lock = lock or threading.Lock()
        self._actions_seen = 0

    def feed(self, raw) -> list[Transition]:
        """Process one record; never raises on bad input."""
        return self.feed_many([raw], batched=False)

    def feed_many(self, raws: list, batched: bool = True) -> list[Transition]:
        """Process records in order (decision runs vectorised when ``batched``)."""
        with self.lock:
            out = self.monitor.process_many(raws) if batched else [t for r in raws for t in self.monitor.process(r)]
            actions = []
            if self.monitor.policy is not None:
                actions = self.monitor.policy.actions[self._actions_seen:]
                self._actions_seen = len(self.monitor.policy.actions)
        for tr in out:
            self._emit(tr.to_dict(), f"[{tr.time:9.2f}s] {tr.regime:<17} {tr.kind.upper():<5} "
                                     f"{'' if tr.key is None else f'class {tr.key}: '}{tr.reason}")
        for a in actions:
            self._emit(a.to_dict(), f"[{a.time:9.2f}s] {'':<17} ACTION {a.action}")
        return out

    def _emit(self, doc: dict, line: str) -> None:
        for stream in (self.events, self.json_out):
            if stream is not None:
                stream.write(json.dumps(doc, default=float) + "\n")
                stream.flush()
        if self.human is not None:
            self.human.write(line + "\n")
            self.human.flush()
