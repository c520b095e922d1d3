"""The low-stock rule (``inventory.fell``): a movement that takes the stock from above the mark
to it or below asks for one email; nothing else does."""

from __future__ import annotations

import pytest

from dukaan import inventory


@pytest.fixture
def asked(monkeypatch):
    seen: list[dict] = []
    monkeypatch.setattr(inventory.jobs, "record", lambda name, **args: seen.append({"job": name, **args}))
    return seen


@pytest.mark.parametrize("mark, before, after, mailed", [
    (3, 10, 5, False),  # still above
    (3, 4, 3, True),  # to the mark
    (3, 10, 0, True),  # past it in one go
    (3, 3, 2, False),  # already at it: that fall was mailed
    (3, 2, 1, False),  # already below
    (3, 2, 4, False),  # back above: nothing now, the next fall mails
    (0, 1, 0, True),  # 0: sold out
    (None, 10, 0, False),  # no mark
])
def test_only_a_fall_from_above_the_mark_asks_for_an_email(asked, mark, before, after, mailed):
    inventory.fell(7, mark, before, after)
    assert bool(asked) is mailed
    if mailed:
        assert asked[0]["job"] == "mail.low_stock" and asked[0]["product_id"] == 7
        assert asked[0]["fell_to"] == after and asked[0]["at"]
