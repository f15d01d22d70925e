"""Checkpoint ids that are identical when a workflow is replayed.

The uuid6 layout and the workflow-side source of ids; :mod:`tempograph.temporal.determinism`
installs them where LangGraph looks ids up.
"""

from __future__ import annotations

import uuid

from temporalio import workflow

# 100-ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch.
GREGORIAN_OFFSET = 0x01B21DD213814000

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
    timestamp = int(now.timestamp() * 10_000_000) + GREGORIAN_OFFSET
    last = getattr(instance, _LAST_TS_ATTR, 0)
    timestamp = max(timestamp, last + 1)
    setattr(instance, _LAST_TS_ATTR, timestamp)
    rng = workflow.random()
    seq = clock_seq if clock_seq is not None else rng.getrandbits(14)
    return make_uuid6(timestamp, seq, rng.getrandbits(48))
