"""``BoundedDict`` keeps the newest entries; the log throttle relies on it to stay bounded under a flood of causes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from otlp_bridge.bounded import BoundedDict
from otlp_bridge.log import Throttle


@given(st.integers(1, 8), st.lists(st.tuples(st.integers(0, 20), st.integers()), max_size=100))
def test_it_keeps_the_newest_added_entries_up_to_its_size(maxsize: int, writes: list[tuple[int, int]]) -> None:
    table: BoundedDict[int, int] = BoundedDict(maxsize)
    model: dict[int, int] = {}  # insertion-ordered; an update keeps a key's place
    for key, value in writes:
        if key not in model and len(model) >= maxsize:
            del model[next(iter(model))]
        model[key] = value
        table[key] = value
        assert len(table) <= maxsize
    assert list(table.items()) == list(model.items())


def test_the_throttle_forgets_its_oldest_cause_when_full() -> None:
    throttle = Throttle(interval=10.0, max_causes=2)
    assert [throttle.allow(cause, 0.0) for cause in ("a", "b")] == [0, 0]
    assert throttle.allow("b", 1.0) is None  # held back, counted
    assert throttle.allow("c", 2.0) == 0  # a third cause: "a" is forgotten, "b" is kept
    assert throttle.allow("a", 3.0) == 0  # "a" starts afresh (and "b" goes)
    assert throttle.allow("c", 4.0) is None
