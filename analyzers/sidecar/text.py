"""What a person reads: event lines, prefix-class labels, the end-of-run summary.

A prefix class (the hash of a prompt's first block, often a raw 2^40-sized id) is
shown as a short stable hash with what the evidence says about it — the prompt length
and the class's share of recent arrivals.

>>> class_label(1099511627776, {"share": 0.42, "prompt_tokens": 12_400})
'class f280245a (12.4K-token prompts, 42% of arrivals)'
>>> class_label(None, {})
''
"""

from __future__ import annotations

import hashlib
import sys
from typing import IO

__all__ = ["class_label", "short_hash", "transition_line", "print_summary", "REGIME_NAMES"]

REGIME_NAMES = {
    "hot_prefix": "one prompt prefix overloads the instances that cache it",
    "hot_prefix_paper": "one prompt prefix overloads the instances that cache it (the paper's test)",
    "divergence": "LMetric's choice costs clearly more than the cost model's",
    "zero_factor": "a zero score lets LMetric pick a dominated instance",
    "heterogeneity": "instances run at different speeds",
    "staleness": "routing uses state that is too old",
    "saturation": "an instance cannot take more requests and its queue grows",
}


def short_hash(key) -> str:
    return hashlib.blake2b(str(key).encode(), digest_size=4).hexdigest()


def _tokens(n: float) -> str:
    return f"{n / 1000:.1f}K" if n >= 1000 else f"{n:.0f}"


def class_label(key, evidence: dict | None) -> str:
    """``class <8-hex hash> (<prompt length>-token prompts, <share> of arrivals)``."""
    if key is None:
        return ""
    ev = evidence or {}
    bits = []
    if isinstance(ev.get("prompt_tokens"), (int, float)):
        bits.append(f"{_tokens(ev['prompt_tokens'])}-token prompts")
    if isinstance(ev.get("share"), (int, float)):
        bits.append(f"{ev['share']:.0%} of arrivals")
    return f"class {short_hash(key)}" + (f" ({', '.join(bits)})" if bits else "")


def transition_line(tr) -> str:
    """One line per transition: time, regime, ENTER/EXIT, the class, the plain reason."""
    label = class_label(tr.key, tr.evidence)
    return f"[{tr.time:9.2f}s] {tr.regime:<17} {tr.kind.upper():<5} {label + ': ' if label else ''}{tr.reason}"


def print_summary(monitor, sidecar=None, run_id: str = "", stopped: bool = False, out: IO[str] | None = None) -> None:
    """The end-of-run summary as tables (records, drops and notes by reason, regimes,
    scraped targets) on ``out`` (stderr by default)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    out = sys.stderr if out is None else out
    con = Console(file=out, width=110, highlight=False, soft_wrap=False)
    st = monitor.state()
    recs = {k: v for k, v in st["records"].items() if k != "bad"}
    head = Table(box=box.SIMPLE_HEAD, title=f"run {run_id}{' (stopped)' if stopped else ''}: records", title_justify="left")
    head.add_column("read")
    head.add_column("count", justify="right")
    for k, v in sorted(recs.items()):
        head.add_row(f"{k}s", f"{v:,}")
    head.add_row("dropped", f"{sum(st['bad_records'].values()):,}")
    for k, v in sorted(st["bad_records"].items()):
        head.add_row(f"  dropped: {k}", f"{v:,}")
    for k, v in sorted(st.get("notes", {}).items()):
        head.add_row(f"  accepted with note: {k}", f"{v:,}")
    head.add_row("regime transitions", f"{len(monitor.transitions):,}")
    con.print(head)
    reg = Table(box=box.SIMPLE_HEAD, title="regimes", title_justify="left")
    for c in ("regime", "active now", "enters", "meaning"):
        reg.add_column(c)
    enters = {r: n for (r, k), n in monitor.transition_counts.items() if k == "enter"}
    for d in monitor.detectors:
        keys = d.active_keys if d.active else []
        active = "no" if not d.active else ("yes" if keys == [None] else
                                            "; ".join(class_label(k, d._evidence.get(k)) for k in keys[:3]))
        reg.add_row(d.regime, active, str(enters.get(d.regime, 0)), REGIME_NAMES.get(d.regime, ""))
    con.print(reg)
    targets = sidecar.targets() if sidecar is not None else []
    if targets:
        tt = Table(box=box.SIMPLE_HEAD, title="scraped instances", title_justify="left")
        for c in ("instance", "url", "engine", "up", "last answer", "reason"):
            tt.add_column(c)
        for t in targets:
            tt.add_row(str(t["instance"]), t["url"], t["engine"] or "?", "yes" if t["up"] else "NO",
                       "never" if t["age_s"] is None else f"{t['age_s']:.1f} s ago", t["reason"] or "")
        con.print(tt)
