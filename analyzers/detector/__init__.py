"""Online regime detector: flags LMetric's failure regimes from live telemetry and makes
the router fall back while they last."""

from .arrivals import ArrivalRate
from .calibration import StepTimeCalibrator
from .in_loop import DETECTOR_MODES, DetectorLoop, detector_summary
from .monitor import RegimeMonitor
from .policy import Action, MitigationPolicy
from .regimes import (DivergenceDetector, HeterogeneityDetector, HotPrefixDetector, PaperHotspotDetector,
                      RegimeDetector, SaturationDetector, StalenessDetector, Transition, ZeroFactorDetector,
                      default_detectors)
from .sequential import BernoulliCusum, Hysteresis
from .validate import RecordValidator

__all__ = ["StepTimeCalibrator", "RegimeMonitor", "Action", "MitigationPolicy", "DivergenceDetector",
           "HeterogeneityDetector", "HotPrefixDetector", "PaperHotspotDetector", "RegimeDetector", "SaturationDetector",
           "StalenessDetector", "Transition", "ZeroFactorDetector", "default_detectors", "BernoulliCusum", "Hysteresis",
           "RecordValidator", "ArrivalRate", "DETECTOR_MODES", "DetectorLoop", "detector_summary"]
