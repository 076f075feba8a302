"""Request bodies -> the text the router tokenises, and the approximate tokenizer.

*Chat*: the router cannot apply each model's chat template, so it renders a
deterministic stand-in, one ``<|role|>`` header line per message followed by its
text (multi-part contents joined, non-text parts as ``<|image|>``-style markers).
Turn ``n + 1`` of a conversation renders to turn ``n``'s text plus more, which is what
prefix routing needs; the token count is an approximation of the engine's (the
template adds a few tokens per message).

*Approximate tokens* (``--tokenizer approx``): the UTF-8 bytes in 4-byte chunks, one
token per chunk (``ceil(bytes / 4)`` tokens, the usual ~4 characters per English token).
It is prefix-stable: the first ``k`` tokens depend only on the first ``4k`` bytes, so
equal text prefixes give equal token prefixes and equal block hashes.

>>> render_chat([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
'<|system|>\\nBe brief.\\n<|user|>\\nHi\\n'
>>> approx_tokens("abcdefgh!").tolist() == [int.from_bytes(b"abcd", "little"), int.from_bytes(b"efgh", "little"), 33]
True
>>> prompt_text({"prompt": 5}, chat=False)
Traceback (most recent call last):
...
analyzers.serve.prompts.RequestError: 'prompt' must be a string, a list of strings or a list of token ids
"""

from __future__ import annotations

import numpy as np

__all__ = ["render_chat", "approx_tokens", "prompt_text", "RequestError"]


class RequestError(ValueError):
    """A client error with a one-line reason and the offending parameter."""

    def __init__(self, message: str, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.param = param
        self.status = status


def _content_text(content, i: int) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict):
                raise RequestError(f"messages[{i}].content parts must be objects", "messages")
            if part.get("type") == "text":
                if not isinstance(part.get("text"), str):
                    raise RequestError(f"messages[{i}].content text part needs a string 'text'", "messages")
                parts.append(part["text"])
            else:
                parts.append(f"<|{str(part.get('type', 'part'))[:32]}|>")
        return "".join(parts)
    raise RequestError(f"messages[{i}].content must be a string or a list of parts", "messages")


def render_chat(messages) -> str:
    """Deterministic text of a chat (see the module docstring)."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list", "messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RequestError(f"messages[{i}] must be an object", "messages")
        role = m.get("role")
        if not isinstance(role, str):
            raise RequestError(f"messages[{i}].role must be a string", "messages")
        out.append(f"<|{role}|>\n{_content_text(m.get('content'), i)}\n")
    return "".join(out)


def prompt_text(body: dict, chat: bool) -> str | list[int]:
    """The prompt of a completions or chat body: text, or token ids when a completion
    sends ids. Lists of several prompts are joined (one routing decision for the batch)."""
    if chat:
        return render_chat(body.get("messages"))
    p = body.get("prompt")
    if isinstance(p, str):
        return p
    if isinstance(p, list) and p:
        if all(isinstance(x, str) for x in p):
            return "\n".join(p)
        if all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**32 for x in p):
            return list(p)
        if all(isinstance(x, list) and x and all(isinstance(y, int) and not isinstance(y, bool) and 0 <= y < 2**32
                                                 for y in x) for x in p):
            return [y for x in p for y in x]
    raise RequestError("'prompt' must be a string, a list of strings or a list of token ids", "prompt")


def approx_tokens(text: str) -> np.ndarray:
    """Approximate token ids: little-endian 4-byte chunks of the UTF-8 text (uint32)."""
    raw = text.encode("utf-8", "surrogatepass")
    pad = (-len(raw)) % 4
    return np.frombuffer(raw + b"\0" * pad, dtype="<u4").astype(np.uint32)
