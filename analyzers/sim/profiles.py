"""Hardware/model latency profiles for the step-time model

    T = T0 + max(W, k * N) + a_p * sum_chunks n (c + n/2) + a_d * sum_decodes ctx   (ms)

with ``N`` tokens scheduled in the step, ``n`` new tokens of a prefill chunk after
``c`` already computed ones, and ``ctx`` the context length of each decoding request.

KV capacity is derived, not guessed: ``blocks = (mem * util - weights - reserve) /
(block_size * kv_bytes_per_token)``.

Sources (see ``shared/research/simulation_facts.md`` and DESIGN.md §6):

* A100-80G, H100, H200 — W and k from the vLLM kernel tables shipped in NVIDIA
  aiconfigurator (Llama-3-8B / Qwen2.5-7B GEMMs); a_p from the prefill-attention
  fits of the same tables; a_d from KV bytes / (0.8 x peak HBM bandwidth) for
  Qwen2.5-7B (56 KiB/token). BLIS's fitted H100 coefficients agree on k.
* H20 — roofline estimate only (148 TFLOPS BF16, 4.0 TB/s, 96 GB): k at MFU 0.6,
  a_p = H100 x 6.7 (compute ratio), a_d from bandwidth. No public profile exists.
* h20-moe — Qwen3-30B-A3B on H20, an *estimate*: about 3.3B active parameters so
  prefill costs ~2x less per token than the dense 7B (k halved); a large decode batch
  touches most experts so the weight-read floor is ~61 GB / 4 TB/s = 15 ms;
  KV 48 layers x 4 KV heads x 128 x 2 x 2 B = 96 KiB/token.

T0 (scheduler, sampling, detokenisation) is taken as 2 ms everywhere (1–3 ms range).

>>> p = get_profile("h100")
>>> round(p.step_time_ms(prefill=[(2048, 0)], decode_ctx=[]), 1)   # fresh 2K prompt ~ 40 ms
41.8
>>> get_profile("h20").kv_blocks > 70_000
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Profile", "PROFILES", "get_profile", "kv_blocks_for", "load_profile"]

GiB = 1024**3
KiB = 1024


def kv_blocks_for(mem_gb: float, util: float, weights_gb: float, reserve_gb: float,
                  kv_bytes_per_token: int, block_size: int = 16) -> int:
    """KV-cache blocks that fit: ``(mem*util - weights - reserve) / (block_size * kv_bytes)``.

    >>> kv_blocks_for(96, 0.9, 15, 2, 56 * 1024)   # H20 + Qwen2.5-7B, ~1.2M tokens
    75639
    """
    free = (mem_gb * util - weights_gb - reserve_gb) * 1e9
    if free <= 0:
        raise ValueError("weights and reserve exceed usable GPU memory")
    return int(free // (block_size * kv_bytes_per_token))


@dataclass(frozen=True)
class Profile:
    """A named latency/capacity profile. All times in milliseconds."""

    name: str
    description: str
    t0: float          # fixed per-step cost (ms)
    w: float           # weight-read floor (ms)
    k: float           # ms per scheduled token (linear layers)
    a_p: float         # ms per prefill attention pair
    a_d: float         # ms per decode context token
    kv_blocks: int     # KV-cache capacity in blocks
    block_size: int = 16
    max_num_batched_tokens: int = 4096   # the paper's testbed chunk budget
    max_num_seqs: int = 256
    max_model_len: int = 131_072
    source: str = ""

    def step_time_ms(self, prefill: list[tuple[int, int]], decode_ctx: list[int]) -> float:
        """Step time for prefill chunks ``(n, c)`` and decoding requests' contexts."""
        n_tok = sum(n for n, _ in prefill) + len(decode_ctx)
        attn_p = sum(n * (c + n / 2) for n, c in prefill)
        return self.t0 + max(self.w, self.k * n_tok) + self.a_p * attn_p + self.a_d * sum(decode_ctx)

    def with_overrides(self, **kw) -> "Profile":
        """A copy with some fields replaced (unknown fields raise ``TypeError``)."""
        return replace(self, **kw)

    @property
    def kv_tokens(self) -> int:
        return self.kv_blocks * self.block_size


_QWEN7B_KV = 56 * KiB
PROFILES: dict[str, Profile] = {
    "a100": Profile("a100", "A100-80G, Qwen2.5-7B, TP1", t0=2.0, w=9.7, k=0.052, a_p=3.0e-6, a_d=3.8e-5,
                    kv_blocks=kv_blocks_for(80, 0.9, 15, 2, _QWEN7B_KV),
                    source="aiconfigurator vLLM 0.14 kernel tables (W, k, a_p); a_d = 56 KiB / (0.8 x 2.04 TB/s)"),
    "h100": Profile("h100", "H100-80G, Qwen2.5-7B, TP1", t0=2.0, w=5.0, k=0.019, a_p=4.4e-7, a_d=2.1e-5,
                    kv_blocks=kv_blocks_for(80, 0.9, 15, 2, _QWEN7B_KV),
                    source="aiconfigurator vLLM 0.24 kernel tables; BLIS H100 fit 17-20 us/token agrees"),
    "h200": Profile("h200", "H200-141G, Qwen2.5-7B, TP1", t0=2.0, w=3.9, k=0.0195, a_p=4.5e-7, a_d=1.5e-5,
                    kv_blocks=kv_blocks_for(141, 0.9, 15, 2, _QWEN7B_KV),
                    source="aiconfigurator vLLM 0.24 kernel tables; a_d = 56 KiB / (0.8 x 4.8 TB/s)"),
    "h20": Profile("h20", "H20-96G, Qwen2.5-7B, TP1 (roofline estimate)", t0=2.0, w=4.75, k=0.15, a_p=2.8e-6,
                   a_d=1.8e-5, kv_blocks=kv_blocks_for(96, 0.9, 15, 2, _QWEN7B_KV),
                   source="roofline: 148 TFLOPS BF16 at MFU 0.6, 4.0 TB/s; a_p = H100 x 6.7; no public profile"),
    "h20-moe": Profile("h20-moe", "H20-96G, Qwen3-30B-A3B MoE, TP1 (estimate)", t0=2.0, w=15.0, k=0.075, a_p=5.2e-6,
                       a_d=3.1e-5, kv_blocks=kv_blocks_for(96, 0.9, 61, 2, 96 * KiB),
                       source="estimate: ~3.3B active params (k = dense/2), 61 GB weights / 4 TB/s floor, "
                              "96 KiB KV/token / (0.8 x 4 TB/s); attention ~1.9x the 7B (48 layers, 32 heads)"),
}


def get_profile(name: str, **overrides) -> Profile:
    """Profile by name (case-insensitive), optionally with fields overridden."""
    key = name.strip().lower()
    if key not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    prof = PROFILES[key]
    return prof.with_overrides(**overrides) if overrides else prof


def load_profile(path) -> Profile:
    """A user's profile from a JSON object with :class:`Profile`'s fields
    (``name, t0, w, k, a_p, a_d, kv_blocks`` required, the rest optional)."""
    import json
    from dataclasses import fields
    from pathlib import Path

    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such profile file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a profile must be a JSON object")
    names = {f.name for f in fields(Profile)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{path}: unknown profile field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    data.setdefault("description", f"user profile from {path}")
    missing = [k for k in ("name", "t0", "w", "k", "a_p", "a_d", "kv_blocks") if k not in data]
    if missing:
        raise ValueError(f"{path}: missing profile field(s) {', '.join(missing)}")
    for k in ("t0", "w", "k", "a_p", "a_d"):
        if not isinstance(data[k], (int, float)) or data[k] < 0:
            raise ValueError(f"{path}: {k} must be a non-negative number")
    if not isinstance(data["kv_blocks"], int) or data["kv_blocks"] < 1:
        raise ValueError(f"{path}: kv_blocks must be a positive integer")
    return Profile(**data)
