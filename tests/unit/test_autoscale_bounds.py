"""``--autoscale MIN:MAX``: what is accepted, and what is refused with a reason."""

from __future__ import annotations

import pytest

from tempograph.autoscale import parse_bounds
from tempograph.errors import TempographError


def test_bounds() -> None:
    assert parse_bounds("1:4") == (1, 4)
    assert parse_bounds("2:2") == (2, 2)
    for bad in ("4", "0:3", "3:1", "a:b", "1:", ":2", "-1:2"):
        with pytest.raises(TempographError, match="give MIN:MAX worker processes"):
            parse_bounds(bad)
