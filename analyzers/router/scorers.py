"""Every scorer the toolkit routes with: pure, numpy-vectorised over instances.

A scorer maps a :class:`~analyzers.router.context.DecisionContext` and its parameters
to one score per instance, **lower is better**; a *picker* turns scores into a choice:

* ``argmin`` — smallest score, ties to the lowest index (the reference router);
* ``random-ties`` — uniform among exact minima (llm-d's shuffle + stable sort, Dynamo T=0);
* ``proportional`` — random, probability proportional to ``-score`` (Bailian);
* ``softmax`` — ``p ∝ exp(-(s - s_min)/((s_max - s_min) T))`` (Dynamo T > 0);
* ``rotating`` — argmin scanning from a start index that advances after every pick
  (vLLM PR #47420).

Every scorer takes two generic parameters: ``picker`` (one of the above) and ``ties``
— ``lowest`` (lowest index), ``rotating`` (scan from a start index that advances after
every pick) or ``random`` (uniform among exact minima) — which sets how an argmin-type
picker breaks exact ties (for ``softmax`` it applies at temperature 0; ``proportional``
has no ties). Without ``ties`` each scorer keeps its own rule (``tie_policy``).

Stateful rules (round-robin, rotating scans) keep their state in a ``dict`` owned by
the router; samplers take the router's seeded ``numpy.random.Generator``.

Notation: ``N`` prompt tokens, ``P = N - hit`` uncached tokens (hit capped at N - 1,
so ``P >= 1``), ``Q`` queued prefill tokens, ``W``/``R`` waiting/running requests,
``BS = W + R``, ``U`` KV usage, ``v`` relative speed. Formulas and defaults come from
each peer's own code (``shared/research/peer_routers.md``, DESIGN.md §3, §5).

>>> from analyzers.router.context import DecisionContext
>>> ctx = DecisionContext.build(prompt_tokens=1000, cached_tokens=[992, 0], running=[3, 1], waiting=[1, 0],
...                             queued_prefill=[0, 500])
>>> SCORERS["lmetric"].score(ctx, {}, {}).tolist()     # (Q+P)(BS+1) = 8*5, 1500*2
[40.0, 3000.0]
>>> SCORERS["vllm-v1"].score(ctx, {}, {}).tolist()     # 4W + R
[7.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from .context import DecisionContext

__all__ = ["ScorerSpec", "SCORERS", "get_scorer", "pick", "PICKERS", "parse_params", "GENERIC_PARAMS", "TIE_POLICIES",
           "predicted_ttft_ms"]

BLOCK = 16
GENERIC_PARAMS = ("picker", "ties")
TIE_POLICIES = {"lowest": "argmin", "rotating": "rotating", "random": "random-ties"}


@dataclass(frozen=True)
class ScorerSpec:
    """A named scoring rule with its formula, defaults, source and picker."""

    name: str
    formula: str
    source: str
    score_fn: Callable[[DecisionContext, Mapping[str, object], dict], np.ndarray]
    defaults: Mapping[str, object] = field(default_factory=dict)
    picker: str = "argmin"
    tie_policy: str = "lowest index"

    def params(self, overrides: Mapping[str, object] | None = None) -> dict:
        """Defaults merged with ``overrides``; unknown parameter names raise ``KeyError``, a
        non-number where the default is a number ``ValueError``."""
        out = dict(self.defaults)
        for k, v in (overrides or {}).items():
            if k not in out and k not in GENERIC_PARAMS:
                known = ", ".join([*out, *GENERIC_PARAMS])
                raise KeyError(f"scorer {self.name!r} has no parameter {k!r} (parameters: {known})")
            d = out.get(k) if k in self.defaults else None
            if isinstance(d, (int, float)) and not isinstance(d, bool) and (
                    isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ValueError(f"scorer {self.name!r} parameter {k} must be a number, got {v!r}")
            if k == "ties" and v not in TIE_POLICIES:
                raise KeyError(f"ties must be one of {', '.join(TIE_POLICIES)}, got {v!r}")
            if k == "picker" and v not in PICKERS:
                raise KeyError(f"unknown picker {v!r}; known: {', '.join(PICKERS)}")
            out[k] = v
        return out

    def score(self, ctx: DecisionContext, params: Mapping[str, object] | None = None, state: dict | None = None) -> np.ndarray:
        return np.asarray(self.score_fn(ctx, self.params(params), {} if state is None else state), dtype=float)

    def picker_for(self, params: Mapping[str, object]) -> str:
        """The picker in force: ``picker`` (default the scorer's), with ``ties`` replacing an
        argmin-type picker's tie rule (``softmax`` reads ``ties`` itself at temperature 0)."""
        base = str(params.get("picker", self.picker))
        ties = params.get("ties")
        if ties is not None and base in ("argmin", "rotating", "random-ties"):
            return TIE_POLICIES[str(ties)]
        return base


# ----------------------------------------------------------------------------- pickers
def _argmin(scores, rng, state, params):
    return int(np.argmin(scores))


def _random_ties(scores, rng, state, params):
    ties = np.flatnonzero(scores == scores.min())
    return int(ties[0] if ties.size == 1 else rng.choice(ties))


def _proportional(scores, rng, state, params):
    w = np.maximum(-scores, 0.0)
    if w.sum() <= 0:
        return int(rng.integers(scores.size))
    return int(rng.choice(scores.size, p=w / w.sum()))


def _softmax(scores, rng, state, params):
    temp = float(params.get("temperature", 0.0))
    if temp <= 0:
        return PICKERS[TIE_POLICIES[str(params.get("ties", "random"))]](scores, rng, state, params)
    lo, hi = scores.min(), scores.max()
    if hi == lo:
        return int(rng.integers(scores.size))
    z = np.exp(-(scores - lo) / ((hi - lo) * temp))
    return int(rng.choice(scores.size, p=z / z.sum()))


def _rotating(scores, rng, state, params):
    n = scores.size
    start = state.get("start", 0) % n
    order = (np.arange(n) + start) % n
    k = int(order[np.argmin(scores[order])])
    state["start"] = (start + 1) % n
    return k


PICKERS = {"argmin": _argmin, "random-ties": _random_ties, "proportional": _proportional, "softmax": _softmax,
           "rotating": _rotating}


def pick(scores: np.ndarray, picker: str, rng: np.random.Generator, state: dict, params: Mapping[str, object]) -> int:
    """Choose an instance from ``scores`` with the named picker."""
    if picker not in PICKERS:
        raise KeyError(f"unknown picker {picker!r}; known: {', '.join(PICKERS)}")
    return PICKERS[picker](np.asarray(scores, dtype=float), rng, state, params)


# ----------------------------------------------------------------------------- helpers
def _minmax(v: np.ndarray) -> np.ndarray:
    lo, hi = v.min(), v.max()
    return np.zeros_like(v) if hi == lo else (v - lo) / (hi - lo)


def _hit_ratio(ctx: DecisionContext) -> np.ndarray:
    return ctx.cached_tokens / max(ctx.prompt_tokens, 1)


# ----------------------------------------------------------------------------- scorers
def _lmetric(ctx, p, s):
    return (ctx.queued_prefill + ctx.new_tokens) * (ctx.batch_size + 1)


def _lmetric_noqueue(ctx, p, s):
    return ctx.new_tokens_uncapped * (ctx.batch_size + 1)


def _lmetric_plain(ctx, p, s):
    return ctx.new_tokens_uncapped * ctx.batch_size


def _linear(ctx, p, s):
    return (ctx.queued_prefill + ctx.new_tokens) + float(p["lambda"]) * (ctx.batch_size + 1)


def _cost_model(ctx, p, s):
    x = ctx.queued_prefill + ctx.new_tokens
    bs = ctx.batch_size
    cost = x + bs * ctx.new_tokens
    tau, out = float(p["tau_tokens"]), float(p["output"])
    if tau:  # per-step fixed cost T0 spread over the step's free budget C - BS (T7 calibrated)
        cost = cost + x * tau / np.maximum(float(p["budget"]) - bs, 1.0)
    if out:  # decode interference: O more decode steps shared with BS others, past the weight floor F
        cost = cost + np.where(bs + 1 > float(p["floor"]), bs * out, 0.0)
    return cost


def _lmetric_speed(ctx, p, s):
    return _lmetric(ctx, p, s) / ctx.speed


def _least_loaded(ctx, p, s):
    return ctx.batch_size.astype(float)


def _load_balancer(ctx, p, s):
    # lexicographic (BS, Q): BS * (range(Q) + 1) + (Q - min Q) orders by BS first, exactly, for integer BS
    q = np.asarray(ctx.queued_prefill, float)
    span = float(q.max() - q.min()) + 1.0 if q.size else 1.0
    return ctx.batch_size.astype(float) * span + (q - (q.min() if q.size else 0.0))


def predicted_ttft_ms(ctx, t0: float, w: float, k: float, a_p: float, a_d: float, chunk: float) -> np.ndarray:
    """TTFT of the request on each instance predicted by the step model (ms).

    With ``X = Q + P`` prefill tokens ahead of and including the request, ``D = R``
    decodes per step, ``S = ceil(X / max(chunk - D, 1))`` steps until its last chunk,
    ``ctx_d = max(total - Q, 0)`` decode context tokens and ``c`` its cached tokens:

    ``T = (S (t0 + a_d ctx_d) + max(S w, k (X + S D)) + a_p (P (c + P/2) + Q chunk/2)) / v``

    (the queued tokens' own attention is taken at half a chunk of context each). Example:
    2,048 fresh tokens on an idle h20 instance: one step, 2 + 0.15·2048 + 2.8e-6·2048·1024
    = 315.1 ms; behind 4,096 queued tokens: two steps, 4 + 0.15·6144 + 2.8e-6·(2048·1024 +
    4096·2048) = 955.0 ms.

    >>> from analyzers.router.context import DecisionContext
    >>> ctx = DecisionContext.build(2048, cached_tokens=[0, 0], running=[0, 0], waiting=[0, 1],
    ...                             queued_prefill=[0, 4096])
    >>> [round(float(v), 1) for v in predicted_ttft_ms(ctx, 2.0, 4.75, 0.15, 2.8e-6, 1.8e-5, 4096)]
    [315.1, 955.0]
    """
    q, pn, c = ctx.queued_prefill, ctx.new_tokens, ctx.cached_tokens
    d = ctx.running.astype(float)
    x = q + pn
    steps = np.ceil(x / np.maximum(chunk - d, 1.0))
    ctx_d = np.maximum(ctx.total_tokens - q, 0.0)
    t = steps * (t0 + a_d * ctx_d) + np.maximum(steps * w, k * (x + steps * d)) + a_p * (pn * (c + pn / 2) + q * chunk / 2)
    return t / ctx.speed


def _predicted_ttft(ctx, p, s):
    return predicted_ttft_ms(ctx, *(float(p[n]) for n in ("t0", "w", "k", "a_p", "a_d", "chunk")))


def _least_prefill(ctx, p, s):
    return ctx.queued_prefill + ctx.new_tokens


def _round_robin(ctx, p, s):
    n = ctx.n
    nxt = s.get("next", 0) % n
    s["next"] = (nxt + 1) % n
    return ((np.arange(n) - nxt) % n).astype(float)


def _random(ctx, p, s):
    return np.zeros(ctx.n)


def _vllm_v1(ctx, p, s):
    return float(p["waiting_weight"]) * ctx.waiting + ctx.running


def _vllm_v1_2026(ctx, p, s):
    inflight = ctx.batch_size  # router-local in-flight; one API-server client sees them all
    base = np.maximum(float(p["clients"]) * inflight, ctx.waiting + ctx.running)
    return base + float(p["kv_weight"]) * ctx.waiting * np.maximum(0.0, ctx.kv_usage - float(p["kv_threshold"]))


def _bailian_goodness(ctx, p):
    hit = _minmax(_hit_ratio(ctx))
    bs = _minmax(ctx.batch_size.astype(float))
    tok = _minmax(ctx.total_tokens.astype(float))
    return float(p["alpha"]) * hit + float(p["beta"]) * (1 - bs) + float(p["gamma"]) * (1 - tok)


def _bailian(ctx, p, s):
    return -_bailian_goodness(ctx, p)


def _dynamo(ctx, p, s):
    prefill_blocks = (ctx.queued_prefill + ctx.new_tokens) / BLOCK
    decode_blocks = np.maximum(ctx.total_tokens - ctx.queued_prefill, 0.0) / BLOCK
    return float(p["overlap_weight"]) * prefill_blocks + decode_blocks


_SGLANG_PRESETS = {"rust": (0.5, 32.0, 1.1), "python": (0.3, 64.0, 1.5)}


def _sglang(ctx, p, s):
    preset = str(p["preset"])
    if preset not in _SGLANG_PRESETS:
        raise ValueError(f"sglang preset must be one of {', '.join(_SGLANG_PRESETS)}, got {preset!r}")
    thr, abs_t, rel_t = _SGLANG_PRESETS[preset]
    thr = float(p["cache_threshold"]) if p.get("cache_threshold") is not None else thr
    abs_t = float(p["balance_abs"]) if p.get("balance_abs") is not None else abs_t
    rel_t = float(p["balance_rel"]) if p.get("balance_rel") is not None else rel_t
    load = ctx.batch_size.astype(float)
    imbalanced = (load.max() - load.min() > abs_t) and (load.max() > rel_t * load.min())
    match = _hit_ratio(ctx)
    if imbalanced or match.max() <= thr:
        return load
    return -match  # best prefix match, ties to the lowest index


def _llm_d(ctx, p, s):
    prefix = _hit_ratio(ctx)
    w = ctx.waiting.astype(float)
    queue = np.ones_like(w) if w.max() == w.min() else (w.max() - w) / (w.max() - w.min())
    kv = 1.0 - ctx.kv_usage
    total = float(p["prefix_weight"]) * prefix + float(p["queue_weight"]) * queue + float(p["kv_weight"]) * kv
    return -total


def _aibrix(ctx, p, s):
    r = ctx.running.astype(float)
    if r.max() - r.min() > float(p["imbalance"]):
        return r
    match = _hit_ratio(ctx)
    limit = r.mean() + float(p["std_factor"]) * r.std()
    ok = (match > 0) & (r <= limit)
    if not ok.any():
        return r
    # sort by match desc, then running asc: encode lexicographically; others excluded
    big = 1e9
    return np.where(ok, -match * big + r, np.inf)


def _preble(ctx, p, s):
    cached = ctx.cached_tokens
    new = ctx.new_tokens
    holders = cached > new  # exploit: cached part larger than the new part
    if holders.any():
        return np.where(holders, ctx.batch_size.astype(float), np.inf)
    return ctx.queued_prefill + new + ctx.running * float(p["decode_len"])


SCORERS: dict[str, ScorerSpec] = {s.name: s for s in (
    ScorerSpec("lmetric", "(Q + P) * (BS + 1)", "LMetric reference router (blitz-router, policy lmetric-q)", _lmetric),
    ScorerSpec("lmetric-noqueue", "P_port * (BS + 1), P_port = N - uncapped match (0 on a full match)",
               "SGLang gateway PR #29574 / llm-d lmetric-scorer PR #2351 (no queue term)", _lmetric_noqueue),
    ScorerSpec("lmetric-plain", "P_port * BS (no queue term, no +1)", "degenerate port studied by theorem T4", _lmetric_plain),
    ScorerSpec("linear", "(Q + P) + lambda * (BS + 1)", "linear family of the theory (T2, T5); lambda in tokens/request",
               _linear, {"lambda": 1000.0}),
    ScorerSpec("cost-model", "(Q + P)(1 + tau_tokens / max(budget - BS, 1)) + BS * P + [BS + 1 > floor] BS * output",
               "theorem T7: marginal total latency; defaults (tau_tokens = output = 0) give the prefill-dominated "
               "limit (Q + P) + BS * P, calibrated values (tau_tokens = T0/kappa) the detector's cost model",
               _cost_model, {"tau_tokens": 0.0, "budget": 4096.0, "floor": 32.0, "output": 0.0}),
    ScorerSpec("lmetric-speed", "(Q + P) * (BS + 1) / v", "theorem T9: the product in time units", _lmetric_speed),
    ScorerSpec("least-loaded", "BS", "load-only baseline", _least_loaded),
    ScorerSpec("least-prefill", "Q + P", "prefill-tokens-only baseline", _least_prefill),
    ScorerSpec("load-balancer", "lexicographic (BS, Q): fewest requests, then fewest queued prefill tokens",
               "the usual 'load' balancer of DES studies (issue 11); cache-blind", _load_balancer,
               picker="rotating", tie_policy="rotating start"),
    ScorerSpec("predicted-ttft", "step-model TTFT of the request on each instance (predicted_ttft_ms)",
               "join the instance with the lowest predicted TTFT; constants default to the h20 profile "
               "(the simulator fills them from its profile)", _predicted_ttft,
               {"t0": 2.0, "w": 4.75, "k": 0.15, "a_p": 2.8e-6, "a_d": 1.8e-5, "chunk": 4096.0}),
    ScorerSpec("round-robin", "(i - next) mod n", "round-robin; the counter advances per decision", _round_robin,
               tie_policy="none (scores distinct)"),
    ScorerSpec("random", "0 (uniform pick)", "uniform random", _random, picker="random-ties", tie_policy="uniform"),
    ScorerSpec("vllm-v1", "4 W + R", "vLLM v1 DPLBAsyncMPClient (classic); first engine scanned wins ties", _vllm_v1,
               {"waiting_weight": 4.0}),
    ScorerSpec("vllm-v1-2026", "max(c * inflight, W + R) + 6 W max(0, U - 0.5)",
               "vLLM PR #49204 (Jul 2026); scan start rotates after each pick (PR #47420)", _vllm_v1_2026,
               {"clients": 1.0, "kv_weight": 6.0, "kv_threshold": 0.5}, picker="rotating", tie_policy="rotating start"),
    ScorerSpec("bailian", "-(a minmax(hit%) + b (1 - minmax(BS)) + g (1 - minmax(tokens)))",
               "the paper's production scheduler; random pick proportional to the score", _bailian,
               {"alpha": 1 / 3, "beta": 1 / 3, "gamma": 1 / 3}, picker="proportional", tie_policy="random"),
    ScorerSpec("bailian-deterministic", "same score, argmax", "Bailian deterministic variant", _bailian,
               {"alpha": 1 / 3, "beta": 1 / 3, "gamma": 1 / 3}),
    ScorerSpec("dynamo", "w * prefill_blocks + decode_blocks; prefill_blocks = (Q + P)/16",
               "NVIDIA Dynamo KV router (mid-2025 docs); T=0 argmin with uniform ties, T>0 softmax", _dynamo,
               {"overlap_weight": 1.0, "temperature": 0.0}, picker="softmax", tie_policy="uniform among exact ties"),
    ScorerSpec("sglang", "imbalanced (max-min > abs and max > rel*min) or best match <= threshold: BS; else -match",
               "SGLang cache_aware; preset rust = 0.5/32/1.1 (Rust Default), python = 0.3/64/1.5 (CLI)", _sglang,
               {"preset": "rust", "cache_threshold": None, "balance_abs": None, "balance_rel": None}),
    ScorerSpec("llm-d", "-(3 prefix + 2 queue + 2 kv_util), each in [0, 1]",
               "llm-d / GIE default profile (PR #1827); max-score picker, random among ties", _llm_d,
               {"prefix_weight": 3.0, "queue_weight": 2.0, "kv_weight": 2.0}, picker="random-ties", tie_policy="random"),
    ScorerSpec("aibrix", "max R - min R > 8: R; else best match% among R <= mean + 1 sigma, then R",
               "AIBrix prefix-cache (code defaults: imbalance 8, k = 1)", _aibrix,
               {"imbalance": 8.0, "std_factor": 1.0}),
    ScorerSpec("preble", "cached > new: least-loaded holder; else Q + P + R * decode_len",
               "Preble E2 (simplified: no 3-minute history window); decode_len 45 as AIBrix's port", _preble,
               {"decode_len": 45.0}),
)}


def get_scorer(name: str) -> ScorerSpec:
    """Scorer by CLI name; ``KeyError`` lists the known names."""
    if name not in SCORERS:
        raise KeyError(f"unknown scorer {name!r}; known: {', '.join(SCORERS)}")
    return SCORERS[name]


def parse_params(items: list[str] | None) -> dict[str, object]:
    """Parse ``["lambda=300", "preset=python"]`` into a dict (numbers become floats).

    >>> parse_params(["lambda=300", "preset=python"])
    {'lambda': 300.0, 'preset': 'python'}
    """
    out: dict[str, object] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"parameter {item!r} must look like NAME=VALUE")
        k, v = item.split("=", 1)
        k = k.strip()
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v.strip()
    return out
