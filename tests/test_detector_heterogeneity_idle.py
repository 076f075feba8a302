"""Heterogeneity with idle instances (issue 10 item 3): the detector evaluates on the
instances the calibrator has measured; an idle one (from the start, or for more than
``idle_s`` = 30 s) is left out at speed 1 and re-measured when it works again
(calibration.py)."""

import numpy as np
import pytest

from analyzers.detector import HeterogeneityDetector, MitigationPolicy, RegimeMonitor, StepTimeCalibrator
from analyzers.router.router import Router
from analyzers.telemetry.schema import InstanceSnapshot


def _round(t, k, speeds, idle=(), pause=None):
    """Snapshots of round ``k``: busy time = (2 ms/step + 0.05 ms/token) / speed (the
    calibrator's model); an ``idle`` instance never steps (its counters stay 0); with
    ``pause = (i, k0, k1)`` instance i does no work in rounds k0..k1 (counters frozen)."""
    out = []
    for i, v in enumerate(speeds):
        kk = 0 if i in idle else k
        if pause and pause[0] == i and k > pause[1]:
            kk = pause[1] + max(0, k - pause[2])  # work done: rounds before k0 and after k1
        steps, tokens = 100 * kk + (i if kk else 0), 20_000 * kk + 37 * i * kk
        out.append(InstanceSnapshot(time=t, instance=i, num_running=3 if i not in idle else 0, num_waiting=0,
                                    kv_usage=0.1, steps_total=steps, prompt_tokens_total=tokens,
                                    busy_ms_total=(2 * steps + 0.05 * tokens) / v))
    return out


def _run(det, rounds, **kw):
    for k in range(1, rounds):
        for s in _round(float(k), k, **kw):
            det.update(s)


def test_one_idle_instance_does_not_block_the_others_and_a_slow_one_is_flagged():
    """Instance 0 idle throughout, instance 3 at 0.3x among 1x peers: flagged, the slow
    speed within 5% of 0.3 (the EWMA of exact model multipliers; the tolerance covers the
    fit's ridge and warm-up), the idle instance left out at speed 1. Before this change
    the detector never evaluated (``ready`` needed samples from every instance)."""
    d = HeterogeneityDetector(5, min_dwell=0.0)
    _run(d, 300, speeds=[1.0, 1.0, 1.0, 0.3, 1.0], idle=(0,))
    assert d.active and d.events > 0
    v = d.speeds()
    assert v[3] == pytest.approx(0.3, rel=0.05) and v[[1, 2, 4]] == pytest.approx(1.0, rel=0.05)
    assert v[0] == 1.0 and not d.calibrator.measured[0]
    ev = d.evidence["None"]
    assert ev["instances"][0] == 3 and ev["unmeasured"] == [0] and "idle, not measured" in ev["why"]


def test_an_idle_instance_among_equal_ones_raises_nothing():
    d = HeterogeneityDetector(5, min_dwell=0.0)
    _run(d, 300, speeds=[1.0] * 5, idle=(0,))
    assert d.events > 0 and d.positives == 0 and not d.active
    assert d.calibrator.dispersion() == pytest.approx(1.0, abs=0.02)


def test_an_instance_that_goes_idle_is_left_out_and_re_measured_when_it_works_again():
    """Instance 3 (0.3x) does no work in rounds 100..200 (1 s apart): once idle for more
    than 30 s it is left out (speed 1) and the flag clears; from round 200 it works again
    and is flagged again after min_samples fresh deltas. (Keeping its last estimate was
    tried: the multiplier is relative to the fleet fit, which moved while it idled, and
    it read 0.46x instead of 0.3x.)"""
    d = HeterogeneityDetector(4, min_dwell=0.0)
    pause = (3, 100, 200)
    _run(d, 100, speeds=[1.0, 1.0, 1.0, 0.3], pause=pause)
    assert d.active and d.speeds()[3] == pytest.approx(0.3, rel=0.05)
    for k in range(100, 200):
        for s in _round(float(k), k, speeds=[1.0, 1.0, 1.0, 0.3], pause=pause):
            d.update(s)
        if k == 125:
            assert d.calibrator.measured[3]  # idle for 25 s < 30 s: still counted
    assert not d.calibrator.measured[3] and d.speeds()[3] == 1.0 and not d.active
    for k in range(200, 300):
        for s in _round(float(k), k, speeds=[1.0, 1.0, 1.0, 0.3], pause=pause):
            d.update(s)
        if k == 203:
            assert not d.calibrator.measured[3]  # 3 fresh deltas < min_samples = 5: the old estimate is gone
    assert d.active and d.speeds()[3] == pytest.approx(0.3, rel=0.05)


def test_calibrator_needs_two_measured_instances():
    cal = StepTimeCalibrator(3)
    assert not cal.ready and cal.dispersion() == 1.0 and cal.speeds().tolist() == [1.0, 1.0, 1.0]
    for k in range(1, 20):
        cal.observe(0, steps=100 * k, tokens=20_000 * k, busy_ms=3000.0 * k)
    assert cal.measured.tolist() == [True, False, False] and not cal.ready and cal.dispersion() == 1.0
    for k in range(1, 20):
        cal.observe(1, steps=100 * k, tokens=25_000 * k, busy_ms=2 * 3250.0 * k)
    assert cal.ready and cal.dispersion() > 1.0  # instance 1 is 2x slower per unit of work: a dispersion now exists


def test_policy_switches_to_the_speed_normalised_product_with_an_idle_instance():
    router = Router("lmetric", rng=np.random.default_rng(0))
    mon = RegimeMonitor(4, policy=MitigationPolicy(router))
    for k in range(1, 200):
        for s in _round(float(k), k, speeds=[1.0, 1.0, 1.0, 0.3], idle=(0,)):
            mon.process(s)
    assert router.name == "lmetric-speed"
    assert router.speed_estimate[0] == 1.0 and router.speed_estimate[3] == pytest.approx(0.3, rel=0.05)
