"""Workflow-stable checkpoint ids: the hook is installed where LangGraph looks it up."""

from __future__ import annotations

import time
import uuid

from langgraph.pregel import _checkpoint, _loop

from workflows import ids


def test_install_replaces_exactly_the_names_langgraph_calls() -> None:
    ids.install()
    for module, name in ids.patched_names():
        assert hasattr(module, name), f"{module.__name__}.{name} moved: revisit workflows/ids.py"
    assert _checkpoint.uuid6 is ids._uuid6
    assert _checkpoint.datetime is ids.WorkflowAwareDatetime
    assert _loop.datetime is ids.WorkflowAwareDatetime


def test_outside_a_workflow_langgraph_gets_real_ids_and_time() -> None:
    ids.install()
    first, second = _checkpoint.uuid6(clock_seq=1), _checkpoint.uuid6(clock_seq=2)
    assert first.version == 6 and first != second
    minted_at = (ids.uuid6_timestamp(str(first)) - ids._GREGORIAN_OFFSET) / 1e7
    assert abs(minted_at - time.time()) < 60
    checkpoint = _checkpoint.empty_checkpoint()
    assert checkpoint["ts"].startswith(str(time.gmtime().tm_year))


def test_uuid6_layout_round_trips_its_timestamp_and_sorts_by_it() -> None:
    early = ids.make_uuid6(0x1EC9414C232AB00, clock_seq=5, node=0xABC)
    late = ids.make_uuid6(0x1EC9414C232AB01, clock_seq=0, node=0)
    assert early.version == 6 and early.variant == uuid.RFC_4122
    assert ids.uuid6_timestamp(str(early)) == 0x1EC9414C232AB00
    assert str(early) < str(late)
