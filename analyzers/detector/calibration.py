"""Online calibration of the step-time model from engine telemetry.

Between two snapshots of an instance the engine reports ``d_busy`` milliseconds of
work, ``d_steps`` steps and ``d_tokens`` scheduled tokens. Fleet-wide the model is

    d_busy ≈ (T0 * d_steps + kappa * d_tokens) / v_i

fitted by least squares with exponential forgetting over all instances (``T0`` and
``kappa`` absorb the fleet's mean speed); each instance's multiplier
``m_i = d_busy / prediction`` (EWMA) gives its relative speed ``v_i = median(m)/m_i``.

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
    def __init__(self, n_instances: int, forget: float = 0.995, ewma: float = 0.03, min_samples: int = 5):
        self.n = n_instances
        self.forget = forget
        self.ewma = ewma
        self.min_samples = min_samples
        self._A = np.zeros((2, 2))
        self._b = np.zeros(2)
        self._last: dict[int, tuple[float, float, float]] = {}
        self.mult = np.ones(n_instances)
        self.samples = np.zeros(n_instances, dtype=int)

    def reset_instance(self, i: int) -> None:
        """Forget the last counters of ``i`` (after a counter reset or a gap)."""
        self._last.pop(i, None)

    def observe(self, i: int, steps: float, tokens: float, busy_ms: float) -> None:
        """Counters (monotone totals) of instance ``i`` at a snapshot."""
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
    def ready(self) -> bool:
        return bool(np.all(self.samples >= self.min_samples))

    def speeds(self) -> np.ndarray:
        """Relative speeds (median instance = 1)."""
        return float(np.median(self.mult)) / self.mult

    def dispersion(self) -> float:
        v = self.speeds()
        return float(v.max() / v.min())
