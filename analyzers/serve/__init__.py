"""``lmetric serve``: the reference router as an OpenAI-compatible HTTP proxy.

Pure state (:mod:`.fleet`, :mod:`.prefixes`, :mod:`.prompts`) is separate from the
HTTP shell (:mod:`.proxy` forwarding with httpx, :mod:`.app` Starlette routes,
:mod:`.upstream` probes and scrapes, :mod:`.cli`).
"""

from .fleet import Backend, Fleet, normalise_url
from .prefixes import PrefixTracker
from .prompts import RequestError, approx_tokens, prompt_text, render_chat
from .proxy import Proxy, ServeConfig

__all__ = ["Backend", "Fleet", "normalise_url", "PrefixTracker", "RequestError", "approx_tokens", "prompt_text",
           "render_chat", "Proxy", "ServeConfig"]
