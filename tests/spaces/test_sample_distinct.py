"""nag.spaces.base.sample_distinct: the one rejection loop for distinct architectures."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nag.spaces.base import sample_distinct


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 40), batch=st.integers(1, 7), universe=st.integers(1, 30), seed=st.integers(0, 99))
def test_distinct_new_in_first_drawn_order(n, batch, universe, seed):
    rng = np.random.default_rng(seed)
    drawn: list[int] = []

    def draw():
        b = rng.integers(0, universe, size=batch).tolist()
        drawn.extend(b)
        return b

    seen = {0}
    out = sample_distinct(draw, lambda a: a, n, seen=seen, max_draws=500)
    assert len(out) == len(set(out)) and 0 not in out
    assert len(out) == min(n, universe - 1) or len(drawn) >= 500
    # the order is the order first drawn among new keys
    first = list(dict.fromkeys(a for a in drawn if a != 0))
    assert out == first[: len(out)]


def test_gives_up_after_max_draws():
    calls = []
    out = sample_distinct(lambda: calls.append(1) or [1, 1], lambda a: a, 5, max_draws=10)
    assert out == [1] and len(calls) == 5
