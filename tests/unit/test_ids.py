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
    assert vars(_checkpoint)["uuid6"] is determinism.checkpoint_uuid6
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


def test_a_stamp_gives_the_same_bits_and_time_every_time() -> None:
    """What a workflow mints after a node's result derives from the result's stamp: the
    same stamp (a replay, or a reset to the task that took that result) gives the same
    draws in the same order; another stamp gives others."""
    stamp = str(ids.make_uuid6(0x1F0A1B2C3D4E5F6, clock_seq=7, node=0x1234_5678_9ABC))
    first, again, other = ids._Stamp(stamp), ids._Stamp(stamp), ids._Stamp(str(uuid.uuid4()))
    draws = [(first.getrandbits(k), first.random()) for k in (14, 48, 128, 200)]
    assert draws == [(again.getrandbits(k), again.random()) for k in (14, 48, 128, 200)]
    assert draws != [(other.getrandbits(k), other.random()) for k in (14, 48, 128, 200)]
    for k, (bits, fraction) in zip((14, 48, 128, 200), draws, strict=True):
        assert 0 <= bits < 1 << k and 0.0 <= fraction < 1.0
    assert len({first.getrandbits(48) for _ in range(1000)}) == 1000
    moment = first.time()
    assert moment.tzinfo is not None
    ticks = round(moment.timestamp() * 10_000_000) + ids.GREGORIAN_OFFSET
    assert abs(ticks - 0x1F0A1B2C3D4E5F6) < 10
