"""The bundled reference router: scorers, prefix index, commit-time state, shadow scoring.

Transport-free: the simulator's routing hook and (later) the HTTP proxy call the same
:class:`Router`.
"""

from .context import DecisionContext
from .hashing import BlockHasher
from .prefix_index import ApproxPrefixIndex, ExactPrefixIndex
from .router import ClassPolicy, Decision, Router, ShadowResult, SwitchRecord
from .scorers import PICKERS, SCORERS, ScorerSpec, get_scorer, parse_params, pick

__all__ = ["DecisionContext", "ApproxPrefixIndex", "ExactPrefixIndex", "ClassPolicy", "Decision", "Router", "ShadowResult",
           "SwitchRecord", "PICKERS", "SCORERS", "ScorerSpec", "get_scorer", "parse_params", "pick",
           "BlockHasher"]
