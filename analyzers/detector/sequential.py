"""Sequential change detection with controlled false alarms and hysteresis.

:class:`BernoulliCusum` accumulates the log-likelihood ratio of a Bernoulli evidence
stream between an in-control rate ``p0`` and an out-of-control rate ``p1``::

    S_t = max(0, S_{t-1} + x_t log(p1/p0) + (1 - x_t) log((1 - p1)/(1 - p0)))

and alarms when ``S_t >= h``. By Lorden's bound the average run length between false
alarms under ``p0`` is at least ``e^h``, so ``h = ln(1/alpha)`` keeps the false-alarm
rate per evidence event at most ``alpha``. The detection delay is about
``h / KL(p1 || p0)`` events.

:class:`Hysteresis` turns two such tests into a regime flag: it *enters* when the
``p0 -> p1`` test alarms and *exits* when the reverse ``p1 -> p0`` test alarms and the
regime has lasted ``min_dwell`` seconds, so the router does not flap.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> h = Hysteresis(p0=0.02, p1=0.5, alpha=1e-5, beta=1e-3, min_dwell=0.0)
>>> for t in range(2000):
...     _ = h.update(bool(rng.random() < (0.5 if 1000 <= t < 1500 else 0.02)), float(t))
>>> [(kind, int(t)) for kind, t in h.history]
[('enter', 1007), ('exit', 1513)]
"""

from __future__ import annotations

import math

__all__ = ["BernoulliCusum", "Hysteresis", "kl_bernoulli"]


def kl_bernoulli(p1: float, p0: float) -> float:
    """KL divergence ``KL(Bern(p1) || Bern(p0))`` in nats."""
    return p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))


class BernoulliCusum:
    """One-sided CUSUM of a Bernoulli stream from rate ``p0`` to ``p1``."""

    def __init__(self, p0: float, p1: float, h: float):
        if not (0 < p0 < 1 and 0 < p1 < 1 and p0 != p1):
            raise ValueError("need 0 < p0, p1 < 1 and p0 != p1")
        if h <= 0:
            raise ValueError("threshold h must be positive")
        self.p0, self.p1, self.h = p0, p1, h
        self._up = math.log(p1 / p0)
        self._down = math.log((1 - p1) / (1 - p0))
        self.statistic = 0.0
        self.n = 0

    def update(self, x: bool) -> bool:
        """Add one observation; True when the statistic reaches the threshold."""
        self.statistic = max(0.0, self.statistic + (self._up if x else self._down))
        self.n += 1
        return self.statistic >= self.h

    def reset(self) -> None:
        self.statistic = 0.0

    @property
    def expected_delay(self) -> float:
        """Approximate detection delay in observations, ``h / KL(p1 || p0)``."""
        return self.h / kl_bernoulli(self.p1, self.p0)


class Hysteresis:
    """Regime flag from an entering test (p0 -> p1) and an exiting test (p1 -> p0).

    ``alpha``: false alarms per evidence event while the regime is absent
    (``h_enter = ln(1/alpha)``); ``beta``: premature exits per event while it lasts
    (``h_exit = ln(1/beta)``); ``min_dwell``: seconds a regime lasts at least.
    """

    def __init__(self, p0: float = 0.02, p1: float = 0.5, alpha: float = 1e-5, beta: float = 1e-3,
                 min_dwell: float = 30.0):
        if not (0 < alpha < 1 and 0 < beta < 1):
            raise ValueError("alpha and beta must be in (0, 1)")
        if min_dwell < 0:
            raise ValueError("min_dwell must be >= 0")
        self.enter_test = BernoulliCusum(p0, p1, math.log(1 / alpha))
        self.exit_test = BernoulliCusum(p1, p0, math.log(1 / beta))
        self.min_dwell = min_dwell
        self.active = False
        self.since: float | None = None
        self.history: list[tuple[str, float]] = []
        self.events = 0
        self.positives = 0

    def update(self, x: bool, t: float) -> str | None:
        """Feed one evidence bit at time ``t``; returns ``"enter"``/``"exit"`` on a transition."""
        self.events += 1
        if x:
            self.positives += 1
        if not self.active:
            et = self.enter_test
            if not x and et.statistic == 0.0 and et._down <= 0.0:  # the quiet path: the statistic stays at 0
                et.n += 1
                return None
            if et.update(bool(x)):
                self.active, self.since = True, t
                self.enter_test.reset()
                self.exit_test.reset()
                self.history.append(("enter", t))
                return "enter"
            return None
        if self.exit_test.update(bool(x)) and t - self.since >= self.min_dwell:
            self.active, self.since = False, None
            self.exit_test.reset()
            self.enter_test.reset()
            self.history.append(("exit", t))
            return "exit"
        return None

    @property
    def statistic(self) -> float:
        return self.exit_test.statistic if self.active else self.enter_test.statistic
