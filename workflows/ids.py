"""Checkpoint ids and timestamps that are identical when a workflow is replayed.

LangGraph mints a checkpoint id with ``uuid6()`` (wall clock + ``random``) and stamps
checkpoints with ``datetime.now()``. Task ids hash the checkpoint id and interrupt ids
hash the task path, so a replayed run would see other ids than the original and a resume
keyed by interrupt id would miss. LangGraph is passed through the workflow sandbox (it
is far too heavy to re-import per run), so the sandbox cannot intercept those reads.

:func:`install` swaps the two names that ``langgraph.pregel._checkpoint`` and
``langgraph.pregel._loop`` look up at call time for dispatchers keyed on the *running
event loop*: inside a workflow they derive values from ``workflow.now()`` and
``workflow.random()``; anywhere else (activities run in the same process) they call
LangGraph's originals unchanged. The names patched are checked by a unit test so a
LangGraph upgrade that moves them fails loudly instead of silently losing determinism.
"""

from __future__ import annotations

import uuid
from datetime import datetime, tzinfo
from typing import Any

from temporalio import workflow

# 100-ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch.
_GREGORIAN_OFFSET = 0x01B21DD213814000

# Attribute kept on the workflow instance: the last uuid6 timestamp it handed out.
_LAST_TS_ATTR = "_tempograph_last_uuid6_ts"


def uuid6_timestamp(value: str) -> int:
    """The 60-bit timestamp (100-ns units since 1582) encoded in a uuid6 string."""
    top = uuid.UUID(value).int >> 64
    return ((top >> 16) << 12) | (top & 0x0FFF)


def make_uuid6(timestamp: int, clock_seq: int, node: int) -> uuid.UUID:
    """Lay out a version-6 UUID from its three fields (RFC 9562, section 5.6)."""
    time_high_and_mid = (timestamp >> 12) & 0xFFFF_FFFF_FFFF
    time_low_and_version = (timestamp & 0x0FFF) | (6 << 12)
    value = time_high_and_mid << 80
    value |= time_low_and_version << 64
    value |= (clock_seq & 0x3FFF) << 48
    value |= 0x8000 << 48  # RFC 4122 variant bits
    value |= node & 0xFFFF_FFFF_FFFF
    return uuid.UUID(int=value)


def set_floor(checkpoint_id: str | None) -> None:
    """Make every id minted from now on in this workflow sort after ``checkpoint_id``.

    A run continues a thread whose last checkpoint may have been minted on a worker
    whose clock ran ahead; LangGraph orders checkpoints by id, so ids must not go back.
    """
    if checkpoint_id is None:
        return
    instance = workflow.instance()
    last = getattr(instance, _LAST_TS_ATTR, 0)
    setattr(instance, _LAST_TS_ATTR, max(last, uuid6_timestamp(checkpoint_id)))


def workflow_uuid6(clock_seq: int | None = None) -> uuid.UUID:
    """A uuid6 from workflow time and workflow randomness, strictly increasing per run."""
    instance = workflow.instance()
    now = workflow.now()
    timestamp = int(now.timestamp() * 10_000_000) + _GREGORIAN_OFFSET
    last = getattr(instance, _LAST_TS_ATTR, 0)
    timestamp = max(timestamp, last + 1)
    setattr(instance, _LAST_TS_ATTR, timestamp)
    rng = workflow.random()
    seq = clock_seq if clock_seq is not None else rng.getrandbits(14)
    return make_uuid6(timestamp, seq, rng.getrandbits(48))


class _Original:
    uuid6: Any = None


def _uuid6(node: int | None = None, clock_seq: int | None = None) -> uuid.UUID:
    if workflow.in_workflow():
        return workflow_uuid6(clock_seq)
    result: uuid.UUID = _Original.uuid6(node, clock_seq)
    return result


class WorkflowAwareDatetime(datetime):
    """``datetime`` whose ``now()`` is ``workflow.now()`` inside a workflow."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> WorkflowAwareDatetime:
        if workflow.in_workflow():
            value = workflow.now()
            value = value.astimezone(tz) if tz is not None else value.replace(tzinfo=None)
        else:
            value = datetime.now(tz)
        return cls.fromtimestamp(value.timestamp(), value.tzinfo)


def patched_names() -> list[tuple[Any, str]]:
    """The (module, attribute) pairs :func:`install` replaces."""
    from langgraph.pregel import _checkpoint, _loop

    return [(_checkpoint, "uuid6"), (_checkpoint, "datetime"), (_loop, "datetime")]


def install() -> None:
    """Install the dispatchers. Idempotent; called by the worker before it starts."""
    from langgraph.pregel import _checkpoint

    if _Original.uuid6 is None:
        _Original.uuid6 = vars(_checkpoint)["uuid6"]
    replacements = {"uuid6": _uuid6, "datetime": WorkflowAwareDatetime}
    for module, name in patched_names():
        setattr(module, name, replacements[name])
