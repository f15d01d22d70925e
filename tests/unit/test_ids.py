"""Workflow-stable checkpoint ids: the hook is installed where LangGraph looks it up."""

from __future__ import annotations

import time
import uuid

from langgraph.pregel import _checkpoint, _loop

from tempograph.temporal import determinism
from tempograph.workflows import ids


def test_install_replaces_exactly_the_names_langgraph_calls() -> None:
    determinism.install()
    for module, name in determinism.patched_names():
        assert hasattr(module, name), f"{module.__name__}.{name} moved: see temporal/determinism.py"
    assert vars(_checkpoint)["uuid6"] is determinism._uuid6
    assert vars(_checkpoint)["datetime"] is determinism.WorkflowAwareDatetime
    assert vars(_loop)["datetime"] is determinism.WorkflowAwareDatetime


def test_outside_a_workflow_langgraph_gets_real_ids_and_time() -> None:
    determinism.install()
    before = time.time_ns() // 100 + ids.GREGORIAN_OFFSET
    first, second = _checkpoint.uuid6(clock_seq=1), _checkpoint.uuid6(clock_seq=2)
    after = time.time_ns() // 100 + ids.GREGORIAN_OFFSET
    assert first.version == 6 and first != second
    # The original uuid6 encodes the current time (it may bump by 100 ns to stay unique).
    assert before <= ids.uuid6_timestamp(str(first)) <= after + 2
    checkpoint = _checkpoint.empty_checkpoint()
    assert checkpoint["ts"].startswith(str(time.gmtime().tm_year))


def test_uuid6_layout_round_trips_its_timestamp_and_sorts_by_it() -> None:
    early = ids.make_uuid6(0x1EC9414C232AB00, clock_seq=5, node=0xABC)
    late = ids.make_uuid6(0x1EC9414C232AB01, clock_seq=0, node=0)
    assert early.version == 6 and early.variant == uuid.RFC_4122
    assert ids.uuid6_timestamp(str(early)) == 0x1EC9414C232AB00
    assert str(early) < str(late)
