"""Online calibration of the step-time model from engine telemetry.

Between two snapshots of an instance the engine reports ``d_busy`` milliseconds of
work, ``d_steps`` steps and ``d_tokens`` scheduled tokens. Fleet-wide the model is

    d_busy ≈ (T0 * d_steps + kappa * d_tokens) / v_i

fitted by least squares with exponential forgetting over all instances (``T0`` and
``kappa`` absorb the fleet's mean speed); each instance's multiplier
``m_i = d_busy / prediction`` (EWMA) gives its relative speed ``v_i = median(m)/m_i``.

Idle instances: an instance is *measured* once it has ``min_samples`` step deltas
and its last one is at most ``idle_s`` seconds old (times passed to :meth:`observe`).
An idle instance gives no step deltas, so it is left out: the median and the
dispersion run over the measured instances only, an unmeasured instance gets speed 1
(the median: no evidence either way), and after ``idle_s`` without a step its
estimate is forgotten and rebuilt from ``min_samples`` fresh deltas when it works
again. An idle instance does not keep its last estimate because ``m_i`` is relative
to the fleet-wide fit, which moves while it idles (an instance at 0.3x idle for 200
rounds read 0.46x in the tests). ``ready`` needs two measured instances, so one idle
instance never blocks the others' comparison.

>>> cal = StepTimeCalibrator(n_instances=2)
>>> for k in range(1, 300):
...     for i, slow in ((0, 1.0), (1, 2.0)):
...         cal.observe(i, steps=100 * k, tokens=30_000 * k, busy_ms=slow * (2.0 * 100 + 0.05 * 30_000) * k)
>>> [round(float(v), 2) for v in cal.speeds()]
[1.5, 0.75]
"""

from __future__ import annotations

import numpy as np

__all__ = ["StepTimeCalibrator"]


class StepTimeCalibrator:
    def __init__(self, n_instances: int, forget: float = 0.995, ewma: float = 0.03, min_samples: int = 5,
                 idle_s: float = 30.0):
        self.n = n_instances
        self.forget = forget
        self.ewma = ewma
        self.min_samples = min_samples
        self.idle_s = idle_s
        self._now = -np.inf
        self._last_sample = np.full(n_instances, -np.inf)  # time of each instance's last step delta
        self._A = np.zeros((2, 2))
        self._b = np.zeros(2)
        self._last: dict[int, tuple[float, float, float]] = {}
        self.mult = np.ones(n_instances)
        self.samples = np.zeros(n_instances, dtype=int)

    def reset_instance(self, i: int) -> None:
        """Forget the last counters of ``i`` (after a counter reset or a gap)."""
        self._last.pop(i, None)

    def observe(self, i: int, steps: float, tokens: float, busy_ms: float, t: float | None = None) -> None:
        """Counters (monotone totals) of instance ``i`` at a snapshot taken at ``t`` (seconds;
        without times no instance ever counts as idle)."""
        if t is not None and t > self._now:
            self._now = t
        prev = self._last.get(i)
        self._last[i] = (steps, tokens, busy_ms)
        if prev is None:
            return
        ds, dt, db = steps - prev[0], tokens - prev[1], busy_ms - prev[2]
        if ds <= 0 or db <= 0 or dt < 0:
            return
        x = np.array([ds, dt])
        self._A = self.forget * self._A + np.outer(x, x)
        self._b = self.forget * self._b + x * db
        coef = self.coefficients()
        if coef is None:
            return
        pred = float(coef @ x)
        if pred > 0:
            if t is not None:
                if t - self._last_sample[i] > self.idle_s:
                    self.samples[i] = 0  # back from idle: its old estimate is against an old fit
                self._last_sample[i] = t
            self.mult[i] = (1 - self.ewma) * self.mult[i] + self.ewma * (db / pred) if self.samples[i] else db / pred
            self.samples[i] += 1

    def coefficients(self) -> np.ndarray | None:
        """``(T0 ms per step, kappa ms per token)`` or ``None`` before enough data."""
        tr = float(np.trace(self._A))
        if tr <= 0:
            return None
        # a small ridge keeps the fit defined when tokens per step barely vary (collinear data)
        return np.linalg.solve(self._A + 1e-6 * tr * np.eye(2), self._b)

    @property
    def measured(self) -> np.ndarray:
        """Instances with at least ``min_samples`` step deltas, the last one at most
        ``idle_s`` before the latest observation (boolean mask)."""
        return (self.samples >= self.min_samples) & (self._last_sample >= self._now - self.idle_s)

    @property
    def ready(self) -> bool:
        """At least two measured instances: a dispersion can be computed."""
        return int(np.count_nonzero(self.measured)) >= 2

    def speeds(self) -> np.ndarray:
        """Relative speeds: ``median(m)/m_i`` over the measured instances (median
        measured instance = 1); 1 for an instance not measured."""
        m = self.measured
        if not m.any():
            return np.ones(self.n)
        return np.where(m, float(np.median(self.mult[m])) / self.mult, 1.0)

    def dispersion(self) -> float:
        """Fastest over slowest measured speed (1 with fewer than two measured)."""
        v = self.speeds()[self.measured]
        return float(v.max() / v.min()) if v.size >= 2 else 1.0
