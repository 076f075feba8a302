"""Regime detectors, one small class each (river style): ``update(record)`` returns the
transitions it caused; ``active``/``evidence`` are read-only views.

Each turns records into a Bernoulli *evidence* stream grounded in a theorem of
:mod:`lmetric_theory.conditions` and feeds it to a :class:`~.sequential.Hysteresis`
(CUSUM enter/exit tests with a configurable false-alarm rate and a minimum dwell).

==================  ======================================================  =========
regime              evidence bit (per record it reads)                      theorem
==================  ======================================================  =========
hot_prefix          class share > |M|/N (Eq. 2 fails), the pick is a holder  T8
                    and holders' mean (BS+1) exceeds non-holders' by slack
hot_prefix_paper    the paper's two-phase test (no CUSUM; see the class)      T8
divergence          the judged product's pick costs ``margin`` more than the T5-T7,
                    calibrated cost model's pick (regret)                   T11, T12
zero_factor         a port scores 0 and its pick is Pareto-dominated         T4
heterogeneity       estimated speed dispersion max/min > 1 + ``spread``      T9
staleness           arrival rate x snapshot age > herding window m*          T10
saturation          an instance at max_num_seqs with a growing queue         —
==================  ======================================================  =========

>>> from analyzers.telemetry.schema import InstanceSnapshot
>>> d = SaturationDetector(min_dwell=0.0)
>>> for k in range(40):
...     _ = d.update(InstanceSnapshot(time=float(k), instance=0, num_running=8, num_waiting=k, kv_usage=0.5,
...                                   max_num_seqs=8))
>>> d.active, d.evidence["None"]["threshold"]["max_num_seqs"], d.statistics()
(True, 8, {'None': 0.0})
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from analyzers.telemetry.schema import InstanceSnapshot, RoutingDecision
from lmetric_theory import conditions as C

from .arrivals import ArrivalRate
from .calibration import StepTimeCalibrator
from .output_length import OutputLengths
from .sequential import Hysteresis
from .validate import DecisionView

__all__ = ["Transition", "RegimeDetector", "HotPrefixDetector", "PaperHotspotDetector", "DivergenceDetector",
           "ZeroFactorDetector", "HeterogeneityDetector", "StalenessDetector", "SaturationDetector", "default_detectors"]

BLOCK = 16
PORT_SCORERS = ("lmetric-noqueue", "lmetric-plain")


@dataclass(frozen=True)
class Transition:
    """A regime entering or leaving, with the evidence that decided it."""

    time: float
    regime: str
    kind: str                   # "enter" or "exit"
    key: int | None = None      # prefix class for per-class regimes
    reason: str = ""
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": "transition", "time": self.time, "regime": self.regime, "transition": self.kind,
                "key": self.key, "reason": self.reason, "evidence": self.evidence}


def _view(d: RoutingDecision, view: DecisionView | None) -> DecisionView:
    return view if view is not None else DecisionView.of(d)


def _holders(v: DecisionView) -> tuple[np.ndarray, int]:
    """``(mask, count)`` of the instances caching at least one block of the prompt,
    computed once per decision (the two hot-prefix detectors share it)."""
    h = v.memo
    if h is None:
        mask = v.cached >= BLOCK
        h = v.memo = (mask, int(np.count_nonzero(mask)))
    return h


class RegimeDetector(ABC):
    """Base: one :class:`Hysteresis` (or one per key) and the latest evidence."""

    regime = "regime"

    #: per-key (prefix class) tests kept at most, besides the active ones (see :meth:`_trim`)
    max_keys = 4096

    def __init__(self, p0: float = 0.02, p1: float = 0.5, alpha: float = 1e-5, beta: float = 1e-3, min_dwell: float = 30.0):
        self._hp = dict(p0=p0, p1=p1, alpha=alpha, beta=beta, min_dwell=min_dwell)
        self._tests: dict[int | None, Hysteresis] = {}
        self._evidence: dict[int | None, dict] = {}
        self.events = 0
        self.positives = 0

    def _test(self, key=None) -> Hysteresis:
        t = self._tests.get(key)
        if t is None:
            t = self._tests[key] = Hysteresis(**self._hp)
        return t

    def _feed(self, bit: bool, t: float, evidence, key=None) -> list[Transition]:
        """``evidence``: a dict, or a function building it (called only when the bit is set
        or the regime is active, so the common quiet path stays cheap)."""
        self.events += 1
        if not bit:
            test = self._tests.get(key)
            if test is None:
                if key is not None:
                    return []  # a fresh test fed a 0 bit stays at 0: create tests lazily (lossless)
            elif not test.active and (key is None or len(self._tests) <= self.max_keys):  # (no _trim due)
                et = test.enter_test
                if et.statistic == 0.0 and et._down <= 0.0:  # Hysteresis.update's quiet path, inline
                    test.events += 1
                    et.n += 1
                    return []
        else:
            self.positives += 1
        test = self._test(key)
        if key is not None and len(self._tests) > self.max_keys:
            self._trim()
        if bit or test.active:
            self._evidence[key] = evidence() if callable(evidence) else evidence
        kind = test.update(bit, t)
        if kind is None:
            return []
        ev = self._evidence.get(key, {})
        reason = ev.get("why", "")
        return [Transition(t, self.regime, kind, key, reason if kind == "enter" else "evidence back to normal", ev)]

    def _quiet_many(self, k: int) -> bool:
        """Feed ``k`` zero bits to the unkeyed test at once when it is quiet (not active,
        statistic 0: a zero bit then only counts, :meth:`_feed`'s inline path), and return
        True — the state ``k`` calls of ``_feed(False, ...)`` leave; otherwise feed nothing
        and return False (the caller feeds bit by bit)."""
        test = self._test()
        et = test.enter_test
        if test.active or et.statistic != 0.0 or et._down > 0.0:
            return False
        self.events += k
        test.events += k
        et.n += k
        return True

    def _trim(self) -> None:
        """Bound the per-key state: drop inactive tests whose statistic is back at 0 (a
        fresh test is identical, so nothing is lost); if more than ``max_keys`` remain,
        drop the inactive ones with the smallest statistics down to ``3/4 max_keys``
        (those classes restart their evidence from 0). Active keys are never dropped."""
        idle = [k for k, t in self._tests.items() if k is not None and not t.active and t.statistic == 0.0]
        for k in idle:
            del self._tests[k]
            self._evidence.pop(k, None)
        if len(self._tests) > self.max_keys:
            cand = sorted((t.statistic, i, k) for i, (k, t) in enumerate(self._tests.items())
                          if k is not None and not t.active)
            for _, _, k in cand[:len(self._tests) - self.max_keys * 3 // 4]:
                del self._tests[k]
                self._evidence.pop(k, None)

    @abstractmethod
    def update(self, record, notes=(), view: DecisionView | None = None) -> list[Transition]:
        """Read one validated record (``notes``: the validator's notes for it; ``view``:
        a decision's indicator arrays, computed once by the monitor)."""

    @property
    def active(self) -> bool:
        return any(t.active for t in self._tests.values())

    @property
    def active_keys(self) -> list:
        return [k for k, t in self._tests.items() if t.active]

    @property
    def evidence(self) -> dict:
        return {str(k): self._evidence.get(k, {}) for k in self.active_keys}

    def statistics(self) -> dict:
        return {str(k): round(t.statistic, 3) for k, t in self._tests.items()}


class _ClassWindow:
    """Arrival shares of prefix classes over a trailing time window."""

    def __init__(self, window_s: float, max_arrivals: int = 200_000):
        self.window_s = window_s
        self.max_arrivals = max_arrivals  # memory bound: above ~3,300 arrivals/s the window shortens
        self._q: deque[tuple[float, int | None]] = deque()
        self._counts: dict[int | None, int] = {}

    def add(self, t: float, c: int | None) -> None:
        q, counts = self._q, self._counts
        q.append((t, c))
        counts[c] = counts.get(c, 0) + 1
        lo = t - self.window_s
        while q and (q[0][0] < lo or len(q) > self.max_arrivals):
            _, old = q.popleft()
            n = counts[old] - 1
            if n:
                counts[old] = n
            else:
                del counts[old]

    def add_run(self, times: list, classes: list) -> tuple[list[int], list[int]]:
        """:meth:`add` for each arrival in order; returns, after each, the count of its
        class and the window's total (what :meth:`count` and :attr:`total` then read)."""
        q, counts, window, cap = self._q, self._counts, self.window_s, self.max_arrivals
        get, popleft = counts.get, q.popleft
        cnt, tot = [], []
        for t, c in zip(times, classes):
            q.append((t, c))
            counts[c] = get(c, 0) + 1
            lo = t - window
            while q and (q[0][0] < lo or len(q) > cap):
                old = popleft()[1]
                k = counts[old] - 1
                if k:
                    counts[old] = k
                else:
                    del counts[old]
            cnt.append(get(c, 0))
            tot.append(len(q))
        return cnt, tot

    def count(self, c) -> int:
        return self._counts.get(c, 0)

    @property
    def total(self) -> int:
        return len(self._q)


def _class_run(win: _ClassWindow, recs, holders: np.ndarray):
    """A run of decisions into a class window, and Equation 2 for each (both hot-prefix
    detectors): ``(classes, counts, totals, shares, m, fails)`` — each decision's class,
    its class's count and the window's total after it (lists), ``count / total``, the
    holder counts ``m`` and whether Equation 2 fails with ``0 < m < N`` (arrays)."""
    classes = [r.prefix_class for r in recs]
    cnt, tot = win.add_run([r.time for r in recs], classes)
    share = np.array(cnt) / np.maximum(np.array(tot), 1)  # count / total, as the per-record paths divide
    m = np.count_nonzero(holders, axis=1)
    n = holders.shape[1]
    inner = (m > 0) & (m < n)
    fails = np.zeros(len(recs), dtype=bool)
    if inner.any():
        fails[inner] = ~C.hot_prefix_condition_many(share[inner], m[inner], n)
    return classes, cnt, tot, share, m, fails


class HotPrefixDetector(RegimeDetector):
    """Ours (T8 + sequential test): per prefix class, evidence = Equation 2 fails on the
    trailing-window share, the product kept the request on a holder, and the holders'
    mean ``BS+1`` is above the non-holders' by more than ``slack``."""

    regime = "hot_prefix"

    def __init__(self, window_s: float = 60.0, min_arrivals: int = 20, slack: float = 0.5, **kw):
        kw.setdefault("p0", 0.02)
        kw.setdefault("p1", 0.4)
        super().__init__(**kw)
        self.win = _ClassWindow(window_s)
        self.min_arrivals = min_arrivals
        self.slack = slack

    def update(self, record, notes=(), view=None) -> list[Transition]:
        if not isinstance(record, RoutingDecision):
            return []
        v = _view(record, view)
        holders, m = _holders(v)
        return self._step(record, v, holders, m, holders.size, None)  # the load ratio when needed

    @staticmethod
    def _load_ratio(v, holders, m: int, n: int) -> float:
        """Holders' mean ``BS+1`` over non-holders' (``0 < m < n``)."""
        y = v.y
        y_h = float(np.dot(y, holders))  # sums of small integers: exact in floats
        return (y_h / m) / ((float(y.sum()) - y_h) / (n - m))

    def update_batch(self, recs, views, batch) -> list[Transition]:
        """Vectorised :meth:`update` over a run of decisions: the window's counts in one
        pass, Equation 2 and the evidence bit as arrays; a decision goes through
        :meth:`_evidence_step` only when its bit is set or its class has a test."""
        holders = batch.cached >= BLOCK
        classes, cnt, tot, share, m, fails = _class_run(self.win, recs, holders)
        n = holders.shape[1]
        y_h = (batch.y * holders).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (y_h / np.maximum(m, 1)) / ((batch.y.sum(axis=1) - y_h) / np.maximum(n - m, 1))
        held = holders[np.arange(len(recs)), [r.chosen for r in recs]]
        bits = (fails & held & (ratio > 1 + self.slack)).tolist()
        tests, min_arr = self._tests, self.min_arrivals
        out = []
        for i, (c, t_i, b) in enumerate(zip(classes, tot, bits)):
            if c is None or t_i < min_arr:
                continue
            mi = int(m[i])
            if mi == 0 or mi == n:
                if c in tests:
                    out.extend(self._feed(False, recs[i].time, {}, c))
                continue
            if not b and c not in tests:  # _feed's lazy path: a fresh test fed a 0 bit is not kept
                self.events += 1
                continue
            tr = self._evidence_step(recs[i], views[i], holders[i], mi, n, float(ratio[i]), float(share[i]), b)
            if tr:
                out.extend(tr)
        return out

    def _step(self, record, v, holders, m: int, n: int, ratio: float | None) -> list[Transition]:
        """``ratio``: the load ratio, or ``None`` to compute it only when read."""
        c = record.prefix_class
        self.win.add(record.time, c)
        if c is None or self.win.total < self.min_arrivals:
            return []
        if m == 0 or m == n:
            return self._feed(False, record.time, {}, c) if c in self._tests else []
        share = self.win.count(c) / self.win.total
        eq2_fails = not C.hot_prefix_condition(share, m, n)
        bit = eq2_fails and bool(holders[record.chosen])
        if bit or (c in self._tests and self._tests[c].active):  # the bit or the evidence reads it
            if ratio is None:
                ratio = self._load_ratio(v, holders, m, n)
            bit = bit and ratio > 1 + self.slack
        return self._evidence_step(record, v, holders, m, n, ratio, share, bit)

    def _evidence_step(self, record, v, holders, m: int, n: int, ratio, share: float, bit: bool) -> list[Transition]:
        """Feed the evidence bit of a decision with ``0 < m < n`` holders."""
        c = record.prefix_class

        def ev():
            q, p, y = v.q, v.p, v.y
            k = record.chosen
            j = int(np.argmin(np.where(holders, np.inf, (q + p) * y)))
            return {"why": f"this prompt prefix is {share:.0%} of recent requests but only {m} of {n} instances cache "
                           f"it (they can fairly take {m / n:.0%}), and those instances carry {ratio:.1f}x the others' "
                           "batch load", "share": round(share, 4), "prompt_tokens": record.prompt_tokens, "holders": np.flatnonzero(holders).tolist(), "instances": n,
                    "load_ratio": round(ratio, 3), "affinity_ratio": float(C.affinity_ratio(q[k], p[k], q[j], p[j])),
                    "threshold": {"share": round(m / n, 4), "load_ratio": 1 + self.slack},
                    "chosen": int(k), "decision": record.request_id}

        return self._feed(bit, record.time, ev, c)


class PaperHotspotDetector(RegimeDetector):
    """The paper's two-phase detector (DESIGN.md §4, per a third-party reading of §5.2).

    Phase 1 alarms a class when Equation 2 fails (``0 < |M| < N``) with at least
    ``min_arrivals`` class arrivals in the trailing ``window_s``. Phase 2 confirms when
    ``2|M|`` consecutive class requests had their best LMetric score inside ``M`` no
    worse than outside. Confirmed classes are reported until Equation 2 holds again."""

    regime = "hot_prefix_paper"

    def __init__(self, window_s: float = 60.0, min_arrivals: int = 10):
        super().__init__()
        self.win = _ClassWindow(window_s)
        self.min_arrivals = min_arrivals
        self._streak: dict[int, int] = {}
        self._confirmed: dict[int, float] = {}

    @property
    def active(self) -> bool:
        return bool(self._confirmed)

    @property
    def active_keys(self) -> list:
        return list(self._confirmed)

    def statistics(self) -> dict:
        return {str(k): v for k, v in self._streak.items()}

    def update(self, record, notes=(), view=None) -> list[Transition]:
        if not isinstance(record, RoutingDecision):
            return []
        v = _view(record, view)
        holders, m = _holders(v)
        return self._step(record, holders, None, m, v)

    @staticmethod
    def _inside_best(v: DecisionView, holders: np.ndarray) -> bool:
        """The best LMetric score inside the holders is no worse than outside (``0 < |M| < N``)."""
        s = v.x * v.y
        return bool(s[holders].min() <= s[~holders].min())

    def update_batch(self, recs, views, batch) -> list[Transition]:
        """Vectorised :meth:`update` over a run of decisions: the window's counts in one
        pass, Equation 2 and the inside-best test as arrays; a decision goes through
        :meth:`_classed` only when its class fails Equation 2 or is confirmed."""
        holders = batch.cached >= BLOCK
        s = batch.x * batch.y
        inside = np.where(holders, s, np.inf).min(axis=1)
        outside = np.where(holders, np.inf, s).min(axis=1)
        best = (inside <= outside).tolist()
        classes, cnt, _, share, m, fails = _class_run(self.win, recs, holders)
        n = holders.shape[1]
        confirmed, streak = self._confirmed, self._streak
        out = []
        for i, (c, f) in enumerate(zip(classes, fails.tolist())):
            if c is None:
                continue
            if not f and c not in confirmed:  # _classed's common path: no streak
                self.events += 1
                if streak:
                    streak.pop(c, None)
                continue
            tr = self._classed(recs[i], holders[i], best[i], int(m[i]), n, float(share[i]), f, cnt[i])
            if tr:
                out.extend(tr)
        return out

    def _step(self, record, holders, inside_best: bool | None, m: int, view=None) -> list[Transition]:
        """``inside_best``: precomputed, or ``None`` to compute it from ``view`` when needed."""
        c = record.prefix_class
        self.win.add(record.time, c)
        if c is None:
            return []
        n = holders.size
        share = self.win.count(c) / max(self.win.total, 1)
        fails = 0 < m < n and not C.hot_prefix_condition(share, m, n)
        return self._classed(record, holders, inside_best, m, n, share, fails, self.win.count(c), view)

    def _classed(self, record, holders, inside_best: bool | None, m: int, n: int, share: float, fails: bool,
                 count: int, view=None) -> list[Transition]:
        """One decision of class ``c`` (not ``None``): Equation 2 ``fails`` at the class's
        window ``share`` (``count`` arrivals)."""
        c = record.prefix_class
        self.events += 1
        if c in self._confirmed:
            if not fails:
                del self._confirmed[c]
                self._streak.pop(c, None)
                self._evidence.pop(c, None)
                return [Transition(record.time, self.regime, "exit", c, "its share is back within what its caching instances can take",
                                   {"share": round(share, 4), "holders": int(m), "instances": n})]
            return []
        if not (fails and count >= self.min_arrivals):
            self._streak.pop(c, None)
            return []
        if inside_best is None:
            inside_best = self._inside_best(view, holders)
        if not inside_best:
            self._streak.pop(c, None)  # a 0 streak is the default: keep no entry (memory)
            return []
        self._streak[c] = self._streak.get(c, 0) + 1
        if self._streak[c] >= 2 * m:
            self.positives += 1
            self._confirmed[c] = record.time
            ev = {"why": f"this prompt prefix is {share:.0%} of recent requests, more than its {m} caching instances "
                         f"of {n} can serve (share > {m}/{n}), and its last {2 * m} requests still scored best on them",
                  "share": round(share, 4), "prompt_tokens": record.prompt_tokens,
                  "holders": np.flatnonzero(holders).tolist(), "instances": n, "decision": record.request_id,
                  "threshold": {"share": round(m / n, 4), "consecutive": 2 * m}}
            self._evidence[c] = ev
            return [Transition(record.time, self.regime, "enter", c, ev["why"], ev)]
        return []

    @property
    def evidence(self) -> dict:
        return {str(k): self._evidence.get(k, {}) for k in self._confirmed}


# the product families whose pick the divergence detector judges (T4's reference and ports)
_FAMILY_SCORES = {
    "lmetric": lambda x, p, bs: x * (bs + 1),
    "lmetric-noqueue": lambda x, p, bs: p * (bs + 1),
    "lmetric-plain": lambda x, p, bs: p * bs,
}


# the same scores on plain floats (the single-decision path), and a first-minimum argmin over them
_FAMILY_PY = {
    "lmetric": lambda x, p, bs: x * (bs + 1),
    "lmetric-noqueue": lambda x, p, bs: p * (bs + 1),
    "lmetric-plain": lambda x, p, bs: p * bs,
}


def _argmin_py(score, x, p, bs) -> int:
    """The first minimum of ``score`` over the instances (as ``np.argmin``: ``list.index``
    of ``min`` finds the element ``min`` returned, the first of its equals)."""
    vals = [score(xi, pi, bi) for xi, pi, bi in zip(x, p, bs)]
    return vals.index(min(vals))


class DivergenceDetector(RegimeDetector):
    """T5–T7, T11, T12: the product's regret against the calibrated marginal-cost model

        cost_i = (Q_i + P_i)(1 + T0/(kappa (C - BS_i))) + BS_i P_i + [BS_i + 1 > F] BS_i O

    (T7 with the per-step fixed cost, plus the decode interference of ``O`` expected
    output tokens, which only costs once the batch is past the weight-read floor,
    ``F = W/k`` requests, 32 on H20). ``O`` is the new request's: the median of its
    prefix class's recent outputs (:class:`~.output_length.OutputLengths`, learned from
    the ``output_tokens`` of earlier decisions; the fleet's median for a new class).

    Evidence per decision: the *regret* (T12) of the judged product family's pick ``k``
    against the cost model's pick ``j``, ``cost_k / cost_j - 1``, exceeds ``margin``
    — not a disagreement alone (a disagreement between near-equal costs is no
    evidence). The judged family is the router's base rule (set by the monitor when a
    policy acts, so it stays judged while a fallback runs — computed from the
    decision's indicators, i.e. shadow scores), else the rule each decision names
    (watch-only mode), else the reference product.

    Which rule to fall back to is also decided by evidence (:meth:`favoured`): for the
    judged rule and every candidate — the reference product (when a port is judged), the
    linear rule at T11's exchange rate ``lambda* = median(P) + [beyond floor] O`` and the
    calibrated cost-model rule — the detector keeps an exponentially weighted mean
    (rate 1/256 per decision) of the cost-model cost of the pick that rule would make
    on each decision (shadow scores). A fallback is taken only when the best candidate's
    mean is at least ``min_gain`` below the judged rule's (``min_gain_reference`` when the
    reference product itself is judged); among candidates within ``tolerance`` of the
    best, the simplest in the order above is chosen. Otherwise a port falls back to the
    reference product, and the reference keeps its rule (the regime is reported).

    Ports get a second evidence bit, their own failure (T4, T8): the port's pick has
    more than ``blind_margin`` (relative) more prefill ahead of the request than the
    reference product's pick. Their fallback lasts at least ``port_dwell`` seconds: while
    it runs the port's counterfactual picks look harmless (the reference keeps the
    queues balanced), so a short dwell would flap.

    Defaults measured on the randomised scenarios (``lmetric detector evaluate``):
    with the reference judged, a switch to the cost-model rule at a predicted 22% lower
    cost raised P99 TTFT by 4.2% (``hot_prefix`` seed 3) and one at 18% lowered it by
    15% (labelled ``saturation``): the reference switches only on a 30% predicted gain.

    >>> from analyzers.telemetry.schema import RoutingDecision
    >>> d = DivergenceDetector(min_dwell=0.0)
    >>> for i in range(40):   # a port keeps picking a busy holder over an idle cold instance
    ...     _ = d.update(RoutingDecision(time=float(i), request_id=i, chosen=0, scorer="lmetric-noqueue",
    ...                  prompt_tokens=1800, cached_tokens=[1784, 0], queued_prefill_tokens=[30000, 0],
    ...                  batch_size=[5, 0]))
    >>> d.active, d.favoured()[0]
    (True, 'lmetric')
    """

    regime = "divergence"

    def __init__(self, budget: int = 4096, margin: float = 0.5, t0_ms: float = 2.0, kappa_ms: float = 0.15,
                 calibrator: StepTimeCalibrator | None = None, floor_batch: int = 32, family: str | None = None,
                 min_gain: float = 0.05, tolerance: float = 0.02, outputs: OutputLengths | None = None,
                 port_dwell: float = 600.0, min_gain_reference: float = 0.3, blind_margin: float = 0.2, **kw):
        kw.setdefault("p0", 0.05)
        kw.setdefault("p1", 0.4)
        kw.setdefault("min_dwell", 120.0)  # its fallback swaps the scorer: flapping is costly
        super().__init__(**kw)
        if family is not None and family not in _FAMILY_SCORES:
            raise ValueError(f"family must be one of {', '.join(_FAMILY_SCORES)}")
        self.family = family  # None: the rule each decision names (the reference for other rules)
        self.budget = budget
        self.margin = margin
        self.min_gain = min_gain
        self.port_dwell = port_dwell
        self.min_gain_reference = min_gain_reference
        self.blind_margin = blind_margin
        self.tolerance = tolerance
        self.floor_batch = floor_batch
        self.t0_ms, self.kappa_ms = t0_ms, kappa_ms
        self.calibrator = calibrator
        self.outputs = outputs if outputs is not None else OutputLengths()
        self._p = deque(maxlen=512)
        self._beyond = 0.0       # EWMA of "the cost model's pick is past the weight floor"
        self._mean_cost: dict[str, float] = {}   # rule -> EWMA of its pick's marginal cost
        self._cost_rate = 1.0 / 256
        self.disagreements = 0
        self._coef_every = 0
        self.last_time = 0.0
        self._last_family = "lmetric"
        self._lam: float | None = None
        self._lam_every = 0

    @property
    def lambda_star(self) -> float:
        """T11's exchange rate ``median(P) + [beyond floor] O`` over the recent decisions (tokens per request)."""
        p = float(np.median(self._p)) if self._p else 1000.0
        return p + (self.outputs.fleet() if self._beyond > 0.5 else 0.0)

    def cost_model_params(self) -> dict:
        """The router's ``cost-model`` scorer parameters equal to this detector's calibrated model."""
        return {"tau_tokens": round(self.t0_ms / self.kappa_ms, 3), "budget": float(self.budget),
                "floor": float(self.floor_batch), "output": round(self.outputs.fleet(), 1)}

    def favoured(self) -> tuple[str, dict] | None:
        """The fallback rule the evidence favours, ``(scorer, params)``, or ``None`` (keep the rule)."""
        base = self.family or self._last_family
        own = self._mean_cost.get(base)
        cands = [c for c in ("lmetric", "linear", "cost-model") if c != base and c in self._mean_cost]
        if own is None or not cands:
            return None
        low = min(self._mean_cost[c] for c in cands)
        if low > (1.0 - (self.min_gain if base != "lmetric" else self.min_gain_reference)) * own:
            # a port judged divergent falls back to the reference (T4, T8: its failure modes are the
            # dropped queue term and the zero factor, which the reference does not have)
            return ("lmetric", {}) if base != "lmetric" else None
        best = next(c for c in cands if self._mean_cost[c] <= low * (1.0 + self.tolerance))  # the simplest near-best
        if best == "cost-model":
            return best, self.cost_model_params()
        if best == "linear":
            return best, {"lambda": round(self.lambda_star, 1)}
        return best, {}

    def update(self, record, notes=(), view=None) -> list[Transition]:
        """One decision: the same arithmetic as a one-row :meth:`update_batch` (bit for bit,
        tested) on 1-D arrays, without the 2-D bookkeeping (the ``--follow`` path)."""
        if not isinstance(record, RoutingDecision):
            return []
        v = _view(record, view)
        self._refresh_coefficients(1)
        # plain floats over the instances: IEEE double arithmetic in the batch path's order, so the
        # results equal a one-row batch bit for bit, at a third of numpy's per-call overhead on ~16 values
        bs, p, x = v.bs.tolist(), v.p.tolist(), v.x.tolist()
        o = self.outputs.expected(record.prefix_class)
        t0, kappa, budget, floor = self.t0_ms, self.kappa_ms, self.budget, self.floor_batch
        fam = self.family if self.family is not None else (  # _families, for one record
            record.scorer if record.scorer in _FAMILY_SCORES else "lmetric")
        self._last_family = fam
        lam = self._lambda(1)
        # one pass over the instances: the cost model's TTFT and cost, the reference product
        # (_FAMILY_PY["lmetric"]) and the linear rule; max(budget - b, 1.0) as a conditional
        # (equal on the validated, finite batch sizes)
        ttft, costs, lm, lin = [], [], [], []
        for xi, bi, pi in zip(x, bs, p):
            d = budget - bi
            ti = xi * (1 + t0 / (kappa * (d if d > 1.0 else 1.0)))
            ttft.append(ti)
            b1 = bi + 1
            costs.append((ti + bi * pi) + (bi * o if b1 > floor else 0.0))
            lm.append(xi * b1)
            lin.append(xi + lam * b1)
        k_cost = costs.index(min(costs))  # the first minimum, as np.argmin
        picks = {"lmetric": lm.index(min(lm))}
        if fam != "lmetric":
            picks = {fam: _argmin_py(_FAMILY_PY[fam], x, p, bs), **picks}
        picks["cost-model"] = k_cost
        picks["linear"] = lin.index(min(lin))
        a = self._cost_rate
        decay, mean_cost = 1 - a, self._mean_cost
        for name, k in picks.items():
            val = costs[k]
            mean_cost[name] = float(mean_cost.get(name, val) * decay + a * val)
        kp = picks[fam]
        rg = costs[kp] / costs[k_cost] - 1.0
        port = fam != "lmetric"
        bl = ttft[kp] / ttft[picks["lmetric"]] - 1.0 if port else 0.0
        self._test().min_dwell = self.port_dwell if port else self._hp["min_dwell"]
        self.last_time = record.time
        return self._decided(record, kp, k_cost, rg, bl, p[kp], bs[k_cost] + 1 > floor, o, fam)

    def _refresh_coefficients(self, n: int) -> None:
        if self.calibrator is not None:
            self._coef_every -= n
            if self._coef_every <= 0:  # refresh the calibrated coefficients every 64 decisions
                self._coef_every = 64
                coef = self.calibrator.coefficients()
                if coef is not None and coef[0] > 0 and coef[1] > 0:
                    self.t0_ms, self.kappa_ms = float(coef[0]), float(coef[1])

    def _lambda(self, n: int) -> float:
        if self._lam_every <= 0 or self._lam is None:  # the median of 512 values: refreshed every 64 decisions
            self._lam, self._lam_every = self.lambda_star, 64
        self._lam_every -= n
        return self._lam

    def _decided(self, rec, kp: int, kc: int, rg: float, bl: float, p_kp: float, beyond: bool, o: float,
                 fam: str) -> list[Transition]:
        """The per-decision bookkeeping and evidence bit shared by both paths."""
        self.disagreements += kp != kc
        self._p.append(p_kp)
        self._beyond += (float(beyond) - self._beyond) / 64
        if rec.output_tokens:  # learned for later requests, not this one
            self.outputs.observe(rec.prefix_class, rec.output_tokens)

        def ev():
            fav = self.favoured()
            why = (f"{fam}'s pick (instance {kp}) would cost {rg:.0%} more than the cost model's pick "
                   f"(instance {kc})") if rg > self.margin else (
                   f"{fam}'s pick (instance {kp}) has {bl:.0%} more prefill ahead of the request than the "
                   "reference product's pick (the port ignores queued tokens)")
            return {"why": why, "regret": round(rg, 4), "queue_blind": round(bl, 4), "family": fam,
                    "product_pick": kp, "cost_pick": kc, "t0_ms": round(self.t0_ms, 4),
                    "kappa_ms": round(self.kappa_ms, 5), "expected_output": round(o, 1),
                    "lambda_star": round(self.lambda_star, 1),
                    "mean_cost": {k: round(v, 1) for k, v in self._mean_cost.items()},
                    "favoured": None if fav is None else {"scorer": fav[0], "params": fav[1]},
                    "threshold": self.margin, "decision": rec.request_id}

        return self._feed(rg > self.margin or bl > self.blind_margin, rec.time, ev)

    def _families(self, recs) -> list[str]:
        if self.family is not None:
            return [self.family] * len(recs)
        return [r.scorer if r.scorer in _FAMILY_SCORES else "lmetric" for r in recs]

    def update_batch(self, recs, views, batch) -> list[Transition]:
        """:meth:`update` over a run of decisions, vectorised (one row per decision)."""
        self._refresh_coefficients(len(recs))
        bs, p, x = batch.bs, batch.p, batch.x
        rows = np.arange(len(recs))
        out_len = np.array([self.outputs.expected(r.prefix_class) for r in recs])[:, None]
        tau = self.t0_ms / (self.kappa_ms * np.maximum(self.budget - bs, 1.0))
        ttft = x * (1 + tau)   # prefill work ahead of the request's first token (tokens, step-cost inflated)
        # below the weight floor an extra decode token is free
        cost = ttft + bs * p + np.where(bs + 1 > self.floor_batch, bs * out_len, 0.0)
        k_cost = np.argmin(cost, axis=1)
        fams = self._families(recs)
        self._last_family = fams[-1]
        picks = {f: np.argmin(_FAMILY_SCORES[f](x, p, bs), axis=1) for f in dict.fromkeys([*fams, "lmetric"])}
        k_prod = picks[fams[0]] if len(set(fams)) == 1 else np.array([picks[f][i] for i, f in enumerate(fams)])
        lam = self._lambda(len(recs))
        picks["cost-model"] = k_cost
        picks["linear"] = np.argmin(x + lam * (bs + 1), axis=1)
        a = self._cost_rate
        # EWMA of each rule's marginal cost over the run, in order: a port's only over its own decisions
        # (as update: a run mixing scorers must not charge a port for the others'), new rules in the
        # order update meets them
        order = dict.fromkeys([*(f for f in fams[:1] if f != "lmetric"), "lmetric", "cost-model", "linear",
                               *(f for f in fams if f != "lmetric")])
        mixed = len(set(fams)) > 1
        for name in order:
            k = picks[name]
            if mixed and name not in ("lmetric", "cost-model", "linear"):
                own = np.array([i for i, f in enumerate(fams) if f == name])
                vals = cost[own, k[own]]
            else:
                vals = cost[rows, k]
            prev = self._mean_cost.get(name, float(vals[0]))
            w = (1 - a) ** np.arange(len(vals) - 1, -1, -1)
            self._mean_cost[name] = float(prev * (1 - a) ** len(vals) + a * (w * vals).sum())
        regret = cost[rows, k_prod] / cost[rows, k_cost] - 1.0
        # a port's own failure (T4, T8): its pick's prefill wait exceeds the reference's pick's
        blind = ttft[rows, k_prod] / ttft[rows, picks["lmetric"]] - 1.0
        is_port = np.array([f != "lmetric" for f in fams])
        test = self._test()
        test.min_dwell = self.port_dwell if is_port[-1] else self._hp["min_dwell"]
        p_prod = p[rows, k_prod]
        beyond = (bs[rows, k_cost] + 1 > self.floor_batch)
        self.last_time = recs[-1].time if recs else self.last_time
        quiet = not ((regret > self.margin) | (np.where(is_port, blind, 0.0) > self.blind_margin)).any()
        if quiet and self._quiet_many(len(recs)):  # every bit 0 on a quiet test: _decided's bookkeeping in bulk
            self.disagreements += int(np.count_nonzero(k_prod != k_cost))
            self._p.extend(p_prod.tolist())
            b = self._beyond
            for bey in beyond.tolist():  # the EWMA in order, as _decided
                b += (float(bey) - b) / 64
            self._beyond = b
            self.outputs.observe_many([(rec.prefix_class, rec.output_tokens) for rec in recs if rec.output_tokens])
            return []
        out = []
        decided = self._decided
        # as Python ints, floats and bools made in C (the values of int(), float(), bool() per element)
        for rec, kp, kc, rg, bl, port, pp, bey, o, fam in zip(
                recs, k_prod.tolist(), k_cost.tolist(), regret.tolist(), blind.tolist(), is_port.tolist(),
                p_prod.tolist(), beyond.tolist(), out_len[:, 0].tolist(), fams):
            tr = decided(rec, kp, kc, rg, bl if port else 0.0, pp, bey, o, fam)
            if tr:
                out.extend(tr)
        return out


class ZeroFactorDetector(RegimeDetector):
    """T4 (ports only): the active scorer gave 0 to its pick while another zero-scored
    instance has a smaller batch — a dominated pick allowed by a zero factor."""

    regime = "zero_factor"

    def __init__(self, **kw):
        kw.setdefault("p0", 0.01)
        kw.setdefault("p1", 0.3)
        super().__init__(**kw)

    def update(self, record, notes=(), view=None) -> list[Transition]:
        if not isinstance(record, RoutingDecision) or not record.scores:
            return []
        k = record.chosen
        if record.scores[k] != 0:
            return self._feed(False, record.time, {})
        v = _view(record, view)
        zeros = v.scores == 0
        bit = bool(np.any(zeros & (v.bs < v.bs[k])))
        ev = {"why": f"instance {k} won with score 0 although zero-scored instances had smaller batches",
              "scorer": record.scorer, "zero_instances": np.flatnonzero(zeros).tolist(), "chosen": k,
              "threshold": "score 0 on a Pareto-dominated pick", "decision": record.request_id}
        return self._feed(bit, record.time, ev)

    def update_batch(self, recs, views, batch) -> list[Transition]:
        """:meth:`update` over a run of decisions (the common nonzero pick inline; a run
        whose picks all scored nonzero, on a quiet test, in bulk)."""
        if batch.scores is not None and recs:
            picked = batch.scores[np.arange(len(recs)), [r.chosen for r in recs]]
            if picked.all() and self._quiet_many(len(recs)):
                return []
        out = []
        feed = self._feed
        for rec, v in zip(recs, views):
            sc = rec.scores
            if sc and sc[rec.chosen] != 0:
                tr = feed(False, rec.time, {})
            else:
                tr = self.update(rec, (), v)
            if tr:
                out.extend(tr)
        return out


class HeterogeneityDetector(RegimeDetector):
    """T9: per-instance speeds estimated from step-time telemetry; evidence = their
    dispersion ``max/min`` exceeds ``1 + spread``. Exposes the estimates for the
    speed-normalised product. Evaluated over the instances the calibrator has
    measured (at least two): an idle instance is left out at speed 1 and re-measured
    when it works again (see :class:`~.calibration.StepTimeCalibrator`)."""

    regime = "heterogeneity"

    def __init__(self, n_instances: int, spread: float = 1.0, calibrator: StepTimeCalibrator | None = None, **kw):
        kw.setdefault("p0", 0.05)
        kw.setdefault("p1", 0.5)
        kw.setdefault("min_dwell", 60.0)
        super().__init__(**kw)
        self.n = n_instances
        self.spread = spread
        self.calibrator = calibrator or StepTimeCalibrator(n_instances)
        self._owns_calibrator = calibrator is None

    def speeds(self) -> np.ndarray:
        return self.calibrator.speeds()

    def update_batch(self, recs, views, batch) -> list[Transition]:
        return []  # reads snapshots only

    def update(self, record, notes=(), view=None) -> list[Transition]:
        if not isinstance(record, InstanceSnapshot) or record.instance >= self.n:
            return []
        if self._owns_calibrator:
            if "counter_reset" in notes or "gap" in notes:
                self.calibrator.reset_instance(record.instance)
            self.calibrator.observe(record.instance, record.steps_total,
                                    record.prompt_tokens_total + record.generation_tokens_total, record.busy_ms_total,
                                    record.time)
        if record.instance != self.n - 1 or not self.calibrator.ready:
            return []  # one evidence bit per round of snapshots
        cal = self.calibrator
        disp = cal.dispersion()
        bit = disp > 1 + self.spread

        def ev():
            v, measured = cal.speeds(), cal.measured
            vm = np.where(measured, v, np.nan)
            lo, hi = int(np.nanargmin(vm)), int(np.nanargmax(vm))
            idle = np.flatnonzero(~measured).tolist()
            return {"why": f"instance {lo} runs at {v[lo]:.2f}x the median speed (fastest/slowest "
                           f"{disp:.1f}x > {1 + self.spread:g}x)" + (f"; instance {', '.join(map(str, idle))} idle, "
                                                                     "not measured" if idle else ""),
                    "dispersion": round(disp, 3), "speeds": [round(float(x), 3) for x in v],
                    "threshold": 1 + self.spread, "instances": [lo, hi], "unmeasured": idle}

        return self._feed(bit, record.time, ev)


class StalenessDetector(RegimeDetector):
    """T10: evidence = arrival rate x snapshot age exceeds the herding window ``m*`` of
    the decision's state — more decisions share one snapshot than the argmin can
    absorb before it should move.

    The arrival rate is a windowed count (:class:`~.arrivals.ArrivalRate`: the other
    arrivals in the trailing ``rate_window_s`` seconds, at most ``rate_max_arrivals``
    kept, divided by the span; unbiased for Poisson arrivals with relative error about
    ``1/sqrt(min(rate x window, max_arrivals))``). A decision made with commit-time
    updates on (``commit_updates`` true) gives evidence 0: the router added its own
    earlier decisions to the snapshot, so the argmin moved between snapshots and
    cannot herd on one (T10's window is what commit-time updates restore). Decisions
    that do not say (``None``) are judged by rate x age alone."""

    regime = "staleness"

    def __init__(self, n_instances: int | None = None, max_age_s: float = 5.0, rate_window_s: float = 10.0,
                 rate_max_arrivals: int = 128, **kw):
        kw.setdefault("p0", 0.02)
        kw.setdefault("p1", 0.4)
        super().__init__(**kw)
        self.arrivals = ArrivalRate(rate_window_s, rate_max_arrivals)
        self.n = n_instances
        self.max_age_s = max_age_s
        self._ages: dict[int, float] = {}
        self._scraped = False  # set by the first stale snapshot: a scraped source
        self._round_t: float | None = None

    @property
    def rate(self) -> float:
        """The current arrival-rate estimate (requests/s; 0 before enough arrivals)."""
        return self.arrivals.rate or 0.0

    def _snapshot(self, record: InstanceSnapshot) -> list[Transition]:
        """Scraped sources (no decisions): evidence once per round of snapshots (at the
        first snapshot of a new time) = some instance's last answer is older than
        ``max_age_s`` — the router would route on state that old. Engaged by the first
        ``stale`` snapshot, so simulated streams (never stale) are judged by the decision
        path alone. An instance that never answered has no age (its target status says
        why it is down)."""
        if record.stale:
            self._scraped = True
        new_round = record.time != self._round_t
        self._round_t = record.time
        self._ages[record.instance] = record.age_s if record.stale else 0.0
        if not self._scraped or not new_round:
            return []  # one evidence bit per round (a round's snapshots share their time)
        old = {i: a for i, a in sorted(self._ages.items()) if a > self.max_age_s}
        ev = {"why": f"instance {', '.join(map(str, old))} last answered {max(old.values(), default=0):.1f} s ago "
                     f"(limit {self.max_age_s:g} s): routing would use state that old",
              "ages_s": {str(i): round(a, 3) for i, a in old.items()}, "threshold": self.max_age_s}
        return self._feed(bool(old), record.time, ev)

    def update(self, record, notes=(), view=None) -> list[Transition]:
        if isinstance(record, InstanceSnapshot):
            return self._snapshot(record)
        if not isinstance(record, RoutingDecision):
            return []
        return self._decision(record, view)

    def update_batch(self, recs, views, batch) -> list[Transition]:
        """:meth:`update` over a run of decisions (in bulk when no decision of the run can
        give evidence — exact state or commit-time updates — and the test is quiet)."""
        if not any(r.snapshot_age > 0 and not r.commit_updates for r in recs) and self._quiet_many(len(recs)):
            self.arrivals.add_many([r.time for r in recs])
            return []
        out = []
        for rec, v in zip(recs, views):
            tr = self._decision(rec, v)
            if tr:
                out.extend(tr)
        return out

    def _decision(self, record: RoutingDecision, view) -> list[Transition]:
        t = record.time
        rate = self.arrivals.add(t)
        if record.snapshot_age <= 0 or record.commit_updates or rate is None:
            return self._feed(False, t, {})  # exact state, the router's own commits move the argmin, or no rate yet
        v = _view(record, view)
        x, y, p = v.x, v.y, v.p
        s = x * y
        k = int(np.argmin(s))
        runner = float(np.partition(s, 1)[1]) if s.size > 1 else math.inf
        m_star = C.herding_window(float(x[k]), float(y[k]), runner, float(p[k])) if math.isfinite(runner) else 10**9
        age = record.snapshot_age
        bit = C.herds(rate, age, m_star)

        def ev():
            return {"why": f"{rate * age:.1f} requests are routed on each snapshot ({rate:.1f}/s x {age * 1000:.0f} ms "
                           f"old) without commit-time updates, more than the {m_star} the best instance can absorb",
                    "arrival_rate": round(rate, 3), "rate_window_s": round(self.arrivals.span, 3), "snapshot_age": age,
                    "herding_window": m_star, "threshold": m_star, "chosen": record.chosen,
                    "decision": record.request_id}

        return self._feed(bit, t, ev)


class SaturationDetector(RegimeDetector):
    """An instance that cannot grow its batch — running at ``max_num_seqs`` (from the
    engine, or a flag) or KV usage at least ``kv_full`` — while its waiting queue grows:
    the batch-size factor no longer tracks load. Evidence per snapshot (stale ones
    excepted)."""

    regime = "saturation"

    def __init__(self, kv_full: float = 0.98, **kw):
        kw.setdefault("p0", 0.02)
        kw.setdefault("p1", 0.5)
        super().__init__(**kw)
        self.kv_full = kv_full
        self._waiting: dict[int, int] = {}

    def update_batch(self, recs, views, batch) -> list[Transition]:
        return []  # reads snapshots only

    def update(self, record, notes=(), view=None) -> list[Transition]:
        if not isinstance(record, InstanceSnapshot):
            return []
        prev = self._waiting.get(record.instance)
        self._waiting[record.instance] = record.num_waiting
        if prev is None or record.stale:
            return []
        at_cap = record.max_num_seqs > 0 and record.num_running >= record.max_num_seqs
        kv_full = record.kv_usage >= self.kv_full
        if record.max_num_seqs <= 0 and not kv_full:
            return []  # batch cap unknown and KV not full: no evidence either way
        bit = (at_cap or kv_full) and record.num_waiting > prev
        what = (f"at its batch cap (max_num_seqs={record.max_num_seqs})" if at_cap else
                f"out of KV cache ({record.kv_usage:.0%} used)")
        ev = {"why": f"instance {record.instance} is {what} and its queue grows ({prev} -> {record.num_waiting} "
                     "waiting): its batch size no longer tracks its load", "instance": record.instance,
              "waiting": record.num_waiting, "running": record.num_running, "kv_usage": record.kv_usage,
              "threshold": {"max_num_seqs": record.max_num_seqs or None, "kv_usage": self.kv_full}}
        return self._feed(bit, record.time, ev)


def default_detectors(n_instances: int, *, budget: int = 4096, paper: bool = True, ours: bool = True,
                      alpha: float = 1e-5, max_age_s: float = 5.0) -> list[RegimeDetector]:
    """The standard set; the divergence and heterogeneity detectors share one calibrator."""
    het = HeterogeneityDetector(n_instances, alpha=alpha)  # owns and feeds the calibrator
    dets: list[RegimeDetector] = []
    if ours:
        dets.append(HotPrefixDetector(alpha=alpha))
    if paper:
        dets.append(PaperHotspotDetector())
    dets += [het, DivergenceDetector(budget=budget, calibrator=het.calibrator, alpha=alpha),
             ZeroFactorDetector(alpha=alpha), StalenessDetector(n_instances, max_age_s=max_age_s, alpha=alpha), SaturationDetector(alpha=alpha)]
    return dets
