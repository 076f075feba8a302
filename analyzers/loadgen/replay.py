"""Replay a session workload against any OpenAI-compatible base URL with the official
``openai`` client (``AsyncOpenAI``), streaming or not, chat or completions.

Per request it records the time to the first content chunk (TTFT; streaming only), the
total latency, and the usage the server reports (prompt, cached and completion tokens;
streams ask for it with ``stream_options={"include_usage": True}``). Sessions run on at
most ``concurrency`` workers; a session's turns go one after another, each carrying the
whole history so far (system prompt, earlier questions and the replies received).
Sampling is greedy (``temperature=0``) so two runs of one workload send the same text.

Bounded: the request count is the workload's, every request has a timeout, the client
never retries (``max_retries=0``: a failure is recorded as an error, not hidden).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from .workload import Session

__all__ = ["RequestResult", "ReplayRun", "replay", "replay_sync", "render_completion_prompt"]


@dataclass(frozen=True)
class RequestResult:
    session_id: int
    prompt_id: int
    turn: int
    ok: bool
    start_s: float
    latency_s: float
    ttft_s: float | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class ReplayRun:
    results: tuple[RequestResult, ...]
    wall_s: float
    stream: bool
    api: str


def render_completion_prompt(system: str, history: list[tuple[str, str]], question: str) -> str:
    """The plain-text prompt of the completions API for one turn.

    >>> render_completion_prompt("Be brief.", [("hi", "hello")], "and?")
    'Be brief.\\n\\nUser: hi\\nAssistant: hello\\nUser: and?\\nAssistant:'
    """
    lines = []
    for q, a in history:
        lines += [f"User: {q}", f"Assistant: {a}"]
    lines += [f"User: {question}", "Assistant:"]
    return system + "\n\n" + "\n".join(lines)


def _usage(u) -> tuple[int | None, int | None, int | None]:
    if u is None:
        return None, None, None
    details = getattr(u, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return u.prompt_tokens, cached, u.completion_tokens


def _error_text(exc: BaseException) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {msg}"[:200]


async def _one(client, model: str, s: Session, turn: int, history: list[tuple[str, str]], api: str, stream: bool,
               max_tokens: int, t_run: float) -> tuple[RequestResult, str]:
    question = s.user_turns[turn]
    t0 = time.perf_counter()
    ttft = None
    text: list[str] = []
    usage = None
    try:
        if api == "chat":
            messages = [{"role": "system", "content": s.system}]
            for q, a in history:
                messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
            messages.append({"role": "user", "content": question})
            kw = dict(model=model, messages=messages, max_tokens=max_tokens, temperature=0)
            if stream:
                resp = await client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
                async for chunk in resp:
                    if chunk.choices and chunk.choices[0].delta.content:
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                        text.append(chunk.choices[0].delta.content)
                    if chunk.usage is not None:
                        usage = chunk.usage
            else:
                resp = await client.chat.completions.create(**kw)
                text.append(resp.choices[0].message.content or "")
                usage = resp.usage
        else:
            kw = dict(model=model, prompt=render_completion_prompt(s.system, history, question), max_tokens=max_tokens,
                      temperature=0)
            if stream:
                resp = await client.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
                async for chunk in resp:
                    if chunk.choices and chunk.choices[0].text:
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                        text.append(chunk.choices[0].text)
                    if chunk.usage is not None:
                        usage = chunk.usage
            else:
                resp = await client.completions.create(**kw)
                text.append(resp.choices[0].text or "")
                usage = resp.usage
    except Exception as exc:  # any client/server failure is a recorded error, never a crash of the run
        return RequestResult(s.session_id, s.prompt_id, turn, False, t0 - t_run, time.perf_counter() - t0, ttft,
                             error=_error_text(exc)), ""
    latency = time.perf_counter() - t0
    p, c, o = _usage(usage)
    err = None if usage is not None else "no usage in the response"
    return RequestResult(s.session_id, s.prompt_id, turn, err is None, t0 - t_run, latency, ttft, p, c, o,
                         error=err), "".join(text)


async def replay(base_url: str, sessions: list[Session], *, concurrency: int = 3, stream: bool = True,
                 api: str = "chat", model: str = "smollm2-135m", max_tokens: int = 16, timeout_s: float = 120.0,
                 api_key: str = "none") -> ReplayRun:
    """Send every session's turns to ``base_url`` (``.../v1`` is appended) and time them."""
    import httpx
    from openai import AsyncOpenAI

    if api not in ("chat", "completions"):
        raise ValueError(f"api must be 'chat' or 'completions', got {api!r}")
    if not 1 <= concurrency <= 10_000:
        raise ValueError(f"concurrency must be in [1, 10000], got {concurrency!r}")
    results: list[RequestResult] = []
    queue = list(reversed(sessions))
    http = httpx.AsyncClient(trust_env=False, timeout=timeout_s,
                             limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency))
    client = AsyncOpenAI(base_url=base_url.rstrip("/") + "/v1", api_key=api_key, max_retries=0, timeout=timeout_s,
                         http_client=http)
    t_run = time.perf_counter()

    async def worker():
        while queue:
            s = queue.pop()
            history: list[tuple[str, str]] = []
            for turn in range(len(s.user_turns)):
                r, reply = await _one(client, model, s, turn, history, api, stream, max_tokens, t_run)
                results.append(r)
                history.append((s.user_turns[turn], reply))

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(1, len(sessions))))))
    finally:
        await client.close()
        await http.aclose()
    wall = time.perf_counter() - t_run
    results.sort(key=lambda r: r.start_s)
    return ReplayRun(tuple(results), wall, stream, api)


def replay_sync(base_url: str, sessions: list[Session], **kw) -> ReplayRun:
    """:func:`replay` from synchronous code (its own event loop)."""
    return asyncio.run(replay(base_url, sessions, **kw))
