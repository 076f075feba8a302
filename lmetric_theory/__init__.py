"""Machine-checked theory of multiplicative (LMetric) request routing.

Theorems T1–T10 (see :func:`catalogue`) each carry a sympy proof whose steps must
all return ``True`` and a numeric counterpart in :mod:`lmetric_theory.conditions`.
Importing this package does no work; the online path (``lmetric_theory.conditions``)
never imports sympy.

>>> from lmetric_theory import catalogue, check_theorem
>>> check_theorem(catalogue()[2]).status
'PASS'
"""

from __future__ import annotations

import importlib

__all__ = [
    "Theorem",
    "TheoremResult",
    "Step",
    "check_theorem",
    "catalogue",
    "get_theorem",
    "conditions",
    "FAMILIES",
]

_LAZY = {
    "Theorem": "lmetric_theory.theorem",
    "TheoremResult": "lmetric_theory.theorem",
    "Step": "lmetric_theory.theorem",
    "check_theorem": "lmetric_theory.theorem",
    "catalogue": "lmetric_theory.registry",
    "get_theorem": "lmetric_theory.registry",
    "FAMILIES": "lmetric_theory.score_families",
}


def __getattr__(name: str):
    if name == "conditions":
        return importlib.import_module("lmetric_theory.conditions")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lmetric_theory' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
