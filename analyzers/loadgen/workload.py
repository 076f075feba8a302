"""A prefix-heavy chat workload: a few long shared system prompts, each opening several
multi-turn sessions whose follow-ups extend their own history.

This is the shape where routing decides the prefix-cache hit rate: a request whose
system prompt (and, from turn 2 on, its own history) is cached on the instance it is
sent to skips most of its prefill. Sizes are in words; SmolLM2's tokenizer gives
~1.3 tokens per word of this vocabulary (a 330-word system prompt is ~450 tokens).

Everything is drawn from the ``random.Random`` passed in: the same seed gives the same
workload (so two routers can be compared on identical requests).

>>> import random
>>> w = PrefixWorkload(n_prompts=2, sessions_per_prompt=2, turns=3, system_words=40, user_words=5)
>>> sessions = build_sessions(w, random.Random(7))
>>> len(sessions), sum(len(s.user_turns) for s in sessions), w.n_requests
(4, 12, 12)
>>> [s.prompt_id for s in sessions], sessions[0].system == sessions[1].system != sessions[2].system
([0, 0, 1, 1], True)
>>> build_sessions(w, random.Random(7)) == sessions
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["PrefixWorkload", "Session", "build_sessions", "interleave"]

_VOCAB = (
    "account action answer archive balance billing branch budget buffer cache capacity cluster column "
    "commit config contract customer dataset deadline delivery deploy device discount document domain "
    "driver engine estimate event export feature field filter finance format gateway graph handler "
    "history incident index invoice journal kernel ledger license limit listing loader market memory "
    "message metric module monitor network notice object order owner packet parser partner payment "
    "pipeline policy portal price printer process product profile project quota record region release "
    "report request resource review route sample schedule schema screen search segment server service "
    "session signal source storage stream supplier support system table target ticket timeline token "
    "traffic transfer update upload usage vendor version volume warehouse window worker workflow"
).split()
_TOPICS = ("billing support", "logistics planning", "code review", "travel booking", "medical triage",
           "legal research", "hardware repair", "course tutoring", "tax filing", "recipe planning")


@dataclass(frozen=True)
class PrefixWorkload:
    """Sizes of the workload (validated): ``n_prompts`` system prompts of ``system_words``
    words, each opening ``sessions_per_prompt`` sessions of ``turns`` user turns of
    ``user_words`` words; replies are capped at ``max_tokens``."""

    n_prompts: int = 4
    sessions_per_prompt: int = 3
    turns: int = 3
    system_words: int = 330
    user_words: int = 24
    max_tokens: int = 16

    def __post_init__(self):
        for name in ("n_prompts", "sessions_per_prompt", "turns", "system_words", "user_words", "max_tokens"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 100_000:
                raise ValueError(f"{name} must be an integer in [1, 100000], got {v!r}")

    @property
    def n_requests(self) -> int:
        return self.n_prompts * self.sessions_per_prompt * self.turns


@dataclass(frozen=True)
class Session:
    """One conversation: its system prompt (shared with the other sessions of ``prompt_id``)
    and the user messages sent one after another, each after the previous reply."""

    session_id: int
    prompt_id: int
    system: str
    user_turns: tuple[str, ...]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_VOCAB) for _ in range(n))


def build_sessions(w: PrefixWorkload, rng: random.Random) -> list[Session]:
    """The sessions of ``w``, grouped by system prompt (``interleave`` gives a send order)."""
    systems = []
    for k in range(w.n_prompts):
        head = f"You are assistant number {k} for {_TOPICS[k % len(_TOPICS)]}. Reference notes follow."
        systems.append(head + " " + _words(rng, w.system_words))
    out = []
    for k, system in enumerate(systems):
        for j in range(w.sessions_per_prompt):
            turns = tuple(f"Question {t + 1}: " + _words(rng, w.user_words) + "?" for t in range(w.turns))
            out.append(Session(len(out), k, system, turns))
    return out


def interleave(sessions: list[Session], rng: random.Random) -> list[Session]:
    """A seeded send order in which consecutive sessions rarely share a system prompt
    (round-robin over prompts, sessions shuffled within each prompt).

    >>> import random
    >>> s = build_sessions(PrefixWorkload(n_prompts=3, sessions_per_prompt=2, system_words=5), random.Random(1))
    >>> [x.prompt_id for x in interleave(s, random.Random(2))]
    [0, 1, 2, 0, 1, 2]
    """
    by_prompt: dict[int, list[Session]] = {}
    for s in sessions:
        by_prompt.setdefault(s.prompt_id, []).append(s)
    for group in by_prompt.values():
        rng.shuffle(group)
    order = []
    depth = max((len(g) for g in by_prompt.values()), default=0)
    for i in range(depth):
        for k in sorted(by_prompt):
            if i < len(by_prompt[k]):
                order.append(by_prompt[k][i])
    return order
