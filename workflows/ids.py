"""Checkpoint ids that are identical when a workflow is replayed, or reset.

The uuid6 layout and the workflow-side source of ids; :mod:`tempograph.temporal.determinism`
installs them where LangGraph looks ids up.

Replay alone would be served by ``workflow.now()`` and ``workflow.random()``. A reset is
not: Temporal runs the reset workflow task again with a new random seed and a new clock,
so the checkpoint that task makes from a node's result would get a new id (and new
channel versions, message ids and time), a copy of the one the old branch made. So every
node's result carries a *stamp*, a uuid6 its activity minted; what the workflow mints
in the workflow task that took that result comes from the stamp (its time, and bits
hashed from it), which a reset keeps, being in the history before the reset point. The
new branch then starts from the very checkpoint at the reset point, as LangGraph's time
travel does. Elsewhere (a run's input checkpoint, a resume an hour later) ids and times
come from Temporal's seed and clock.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from temporalio import workflow

# 100-ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch.
GREGORIAN_OFFSET = 0x01B21DD213814000

# Attribute kept on the workflow instance: the last uuid6 timestamp it handed out.
_LAST_TS_ATTR = "_tempograph_last_uuid6_ts"
# Attribute kept on the workflow instance: the _Stamp of the newest node result.
_STAMP_ATTR = "_tempograph_stamp"


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


class _Stamp:
    """Time and random bits derived from one node result's stamp (a uuid6 string)."""

    def __init__(self, stamp: str, task: int = 0) -> None:
        self.task = task  # the workflow task it was taken in (its history length)
        self.timestamp = uuid6_timestamp(stamp)
        self._key = uuid.UUID(stamp).bytes
        self._drawn = 0

    def getrandbits(self, k: int) -> int:
        bits = 0
        for _ in range(0, k, 128):
            self._drawn += 1
            digest = hashlib.blake2b(
                self._drawn.to_bytes(8, "big"), key=self._key, digest_size=16
            ).digest()
            bits = (bits << 128) | int.from_bytes(digest, "big")
        return bits >> (-k % 128)

    def random(self) -> float:
        return self.getrandbits(53) / (1 << 53)

    def time(self) -> datetime:
        return datetime.fromtimestamp((self.timestamp - GREGORIAN_OFFSET) / 10_000_000, UTC)


def take_stamp(stamp: str | None) -> None:
    """Mint from ``stamp`` (a node result's) for the rest of this workflow task."""
    if stamp:
        task = workflow.info().get_current_history_length()
        setattr(workflow.instance(), _STAMP_ATTR, _Stamp(stamp, task))


def _stamp() -> _Stamp | None:
    stamp: _Stamp | None = getattr(workflow.instance(), _STAMP_ATTR, None)
    if stamp is None or stamp.task != workflow.info().get_current_history_length():
        return None
    return stamp


def workflow_random() -> Any:
    """The workflow's source of random bits (``getrandbits``, ``random``)."""
    return _stamp() or workflow.random()


def workflow_time() -> datetime:
    """The workflow's "now" for what it mints: the newest stamp's time, else Temporal's."""
    stamp = _stamp()
    return workflow.now() if stamp is None else stamp.time()


def workflow_uuid4() -> uuid.UUID:
    """``uuid4()`` in workflow code (message ids ``add_messages`` gives)."""
    stamp = _stamp()
    if stamp is None:
        return workflow.uuid4()
    return uuid.UUID(int=stamp.getrandbits(128), version=4)


def workflow_uuid6(clock_seq: int | None = None) -> uuid.UUID:
    """A uuid6 from workflow time and randomness, strictly increasing per run."""
    instance = workflow.instance()
    stamp = _stamp()
    if stamp is None:
        timestamp = int(workflow.now().timestamp() * 10_000_000) + GREGORIAN_OFFSET
    else:
        timestamp = stamp.timestamp
    last = getattr(instance, _LAST_TS_ATTR, 0)
    timestamp = max(timestamp, last + 1)
    setattr(instance, _LAST_TS_ATTR, timestamp)
    rng = workflow_random()
    seq = clock_seq if clock_seq is not None else rng.getrandbits(14)
    return make_uuid6(timestamp, seq, rng.getrandbits(48))
