"""Machine-checked theory of multiplicative (LMetric) request routing.

Theorems T1–T13 (see :func:`catalogue`) each carry a sympy proof whose steps must
all return ``True``, a sympy statement that those steps prove, and a numeric
counterpart in :mod:`lmetric_theory.conditions` that ``check`` falsification-tests
against an independent brute force on seeded random exact states.
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
