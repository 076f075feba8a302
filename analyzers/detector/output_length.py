"""Expected output length per prefix class: an online quantile over a short window.

The divergence detector's decode term needs ``O``, the output tokens a new request will
generate. Requests of one prefix class (same template, same task) have similar outputs,
so ``O`` is learned per class: the ``q``-quantile of the class's last ``window``
observed outputs (exact, over a sorted window, so one observation is enough to move it
and ``window`` observations replace the past entirely). A class with fewer than
``min_samples`` observations uses the fleet-wide quantile over the last
``global_window`` outputs; before any observation, ``prior``.

Memory is bounded: at most ``max_classes`` classes are kept (least recently observed
dropped first).

>>> o = OutputLengths(window=4, min_samples=2)
>>> o.expected(7)                       # nothing seen yet: the prior
256.0
>>> for n in (100, 120, 110):
...     o.observe(7, n)
>>> o.expected(7), o.expected(8)        # class 7's median; class 8 unseen: the fleet's
(110.0, 110.0)
>>> for n in (2000, 2100, 1900, 2050):  # the class's outputs jump 20x: four samples replace the window
...     o.observe(7, n)
>>> o.expected(7)
2050.0
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict, deque

__all__ = ["OutputLengths"]


class _Window:
    """The last ``n`` values in arrival order and sorted (for an exact quantile)."""

    __slots__ = ("order", "sorted", "n")

    def __init__(self, n: int):
        self.order: deque = deque()
        self.sorted: list = []
        self.n = n

    def add(self, v: float) -> None:
        self.order.append(v)
        insort(self.sorted, v)
        if len(self.order) > self.n:
            old = self.order.popleft()
            del self.sorted[bisect_left(self.sorted, old)]

    def extend(self, values: list) -> None:
        """:meth:`add` for each value in order (the same window after)."""
        if len(values) >= self.n:
            self.order = deque(values[-self.n:])
            self.sorted = sorted(self.order)
            return
        order, srt = self.order, self.sorted
        for v in values:
            order.append(v)
            insort(srt, v)
        while len(order) > self.n:
            del srt[bisect_left(srt, order.popleft())]

    def quantile(self, q: float) -> float:
        s = self.sorted
        return float(s[min(int(q * len(s)), len(s) - 1)])  # the lower empirical q-quantile


class OutputLengths:
    def __init__(self, q: float = 0.5, window: int = 32, global_window: int = 256, min_samples: int = 3,
                 prior: float = 256.0, max_classes: int = 4096):
        if not 0.0 <= q <= 1.0:
            raise ValueError("q must be in [0, 1]")
        if window < 1 or global_window < 1 or min_samples < 1 or max_classes < 1:
            raise ValueError("window, global_window, min_samples and max_classes must be >= 1")
        self.q = q
        self.window = window
        self.min_samples = min_samples
        self.prior = float(prior)
        self.max_classes = max_classes
        self._global = _Window(global_window)
        self._classes: OrderedDict = OrderedDict()
        self._cache: dict = {}   # class -> quantile, invalidated on observe
        self._global_q: float | None = None

    def observe(self, cls, output_tokens: float) -> None:
        """Record one finished (or known) output length of prefix class ``cls`` (None: no class)."""
        v = float(output_tokens)
        if not v >= 0.0:   # NaN or negative: not an output length
            return
        g = self._global  # _Window.add, inline (once per decision with an output length)
        g.order.append(v)
        insort(g.sorted, v)
        if len(g.order) > g.n:
            del g.sorted[bisect_left(g.sorted, g.order.popleft())]
        self._global_q = None
        if cls is None:
            return
        classes = self._classes
        w = classes.get(cls)
        if w is None:
            w = classes[cls] = _Window(self.window)
            if len(classes) > self.max_classes:
                old, _ = classes.popitem(last=False)
                self._cache.pop(old, None)
        else:
            classes.move_to_end(cls)
        w.order.append(v)
        insort(w.sorted, v)
        if len(w.order) > w.n:
            del w.sorted[bisect_left(w.sorted, w.order.popleft())]
        self._cache.pop(cls, None)

    def observe_many(self, pairs) -> None:
        """:meth:`observe` for each ``(cls, output_tokens)`` of the list in order, leaving the same
        state: each window takes its values at once (only its last ``n`` matter), and the
        classes move to the most recent end in the order of their last observation. (When
        new classes would overflow ``max_classes``, evictions interleave with insertions:
        one by one.)"""
        vals, by_cls = [], {}
        for cls, out in pairs:
            v = float(out)
            if not v >= 0.0:
                continue
            vals.append(v)
            if cls is not None:
                got = by_cls.get(cls)
                if got is None:
                    by_cls[cls] = [v]
                else:
                    got.append(v)
        if not vals:
            return
        classes = self._classes
        if len(classes) + sum(c not in classes for c in by_cls) > self.max_classes:
            for cls, out in pairs:
                self.observe(cls, out)
            return
        self._global.extend(vals)
        self._global_q = None
        last_first = dict.fromkeys(c for c, out in reversed(pairs) if c is not None and float(out) >= 0.0)
        cache, window = self._cache, self.window
        for cls in reversed(last_first):  # in the order of their last observation
            w = classes.get(cls)
            if w is None:
                w = classes[cls] = _Window(window)
            else:
                classes.move_to_end(cls)
            w.extend(by_cls[cls])
            cache.pop(cls, None)

    def fleet(self) -> float:
        """The fleet-wide quantile (the prior before any observation)."""
        if self._global_q is None:
            self._global_q = self._global.quantile(self.q) if self._global.sorted else self.prior
        return self._global_q

    def expected(self, cls) -> float:
        """``O`` for a new request of class ``cls``."""
        got = self._cache.get(cls)
        if got is not None:
            return got
        w = self._classes.get(cls) if cls is not None else None
        if w is None or len(w.sorted) < self.min_samples:
            return self.fleet()
        got = self._cache[cls] = w.quantile(self.q)
        return got
