"""Makes LangGraph's checkpoint ids and timestamps workflow-stable, process-wide.

LangGraph mints a checkpoint id with ``uuid6()`` (wall clock + ``random``) and stamps
checkpoints with ``datetime.now()``. Task ids hash the checkpoint id and interrupt ids
hash the task path, so a replayed run would see other ids than the original and a resume
keyed by interrupt id would miss. LangGraph is passed through the workflow sandbox (it
is far too heavy to re-import per run), so the sandbox cannot intercept those reads.

:func:`install` swaps the names that ``langgraph.pregel._checkpoint`` and
``langgraph.pregel._loop`` look up at call time for dispatchers keyed on the *running
event loop*: inside a workflow they take values from :mod:`tempograph.workflows.ids`
(``workflow.now()`` and ``workflow.random()``); anywhere else (activities run in the same
process) they call LangGraph's originals unchanged. A unit test checks the names exist,
so a LangGraph upgrade that moves them fails loudly instead of silently losing
determinism.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

from temporalio import workflow

from tempograph.workflows.ids import (
    make_uuid6,
    uuid6_timestamp,
    workflow_time,
    workflow_uuid4,
    workflow_uuid6,
)


class _Original:
    uuid6: Any = None


# Outside workflows: ids minted meanwhile sort after this timestamp (see checkpoint_floor).
_FLOOR: contextvars.ContextVar[int | None] = contextvars.ContextVar("_FLOOR", default=None)


@contextlib.contextmanager
def checkpoint_floor(checkpoint_id: str | None) -> Iterator[None]:
    """Checkpoint ids LangGraph mints in this context sort after ``checkpoint_id``.

    LangGraph orders a thread's checkpoints by id, and ids are times: a state update made
    by the API must come after the thread's newest checkpoint even if a worker minted
    that one with a clock a little ahead of ours."""
    token = _FLOOR.set(uuid6_timestamp(checkpoint_id) if checkpoint_id else None)
    try:
        yield
    finally:
        _FLOOR.reset(token)


def raise_floor(checkpoint_id: str | None) -> None:
    """:func:`checkpoint_floor` for the rest of the current task (an activity's)."""
    if checkpoint_id:
        _FLOOR.set(uuid6_timestamp(checkpoint_id))


def checkpoint_uuid6(node: int | None = None, clock_seq: int | None = None) -> uuid.UUID:
    """LangGraph's ``uuid6`` as installed: the workflow's inside one, else the clock's
    (after the floor)."""
    if workflow.in_workflow():
        return workflow_uuid6(clock_seq)
    result: uuid.UUID = _Original.uuid6(node, clock_seq)
    floor = _FLOOR.get()
    if floor is not None and uuid6_timestamp(str(result)) <= floor:
        seq = clock_seq if clock_seq is not None else random.getrandbits(14)
        result = make_uuid6(floor + 1, seq, random.getrandbits(48))
        _FLOOR.set(floor + 1)
    return result


class WorkflowAwareDatetime(datetime):
    """``datetime`` whose ``now()`` is the workflow's time inside a workflow (see
    :func:`tempograph.workflows.ids.workflow_time`)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> WorkflowAwareDatetime:
        if not workflow.in_workflow():
            real = datetime.now(tz)
            return cls.fromtimestamp(real.timestamp(), real.tzinfo)
        value = workflow_time()
        value = value.astimezone(tz) if tz is not None else value.replace(tzinfo=None)
        return cls.fromtimestamp(value.timestamp(), value.tzinfo)


class _WorkflowAwareUuid:
    """The ``uuid`` module, but ``uuid4()`` is the workflow's inside a workflow.

    ``add_messages`` gives id-less messages a ``uuid4`` id while it runs as a reducer in
    the workflow; a replay must give them the same ids.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(uuid, name)

    @staticmethod
    def uuid4() -> uuid.UUID:
        return workflow_uuid4() if workflow.in_workflow() else uuid.uuid4()


def patched_names() -> list[tuple[Any, str]]:
    """The (module, attribute) pairs :func:`install` replaces."""
    from langgraph.graph import message
    from langgraph.pregel import _checkpoint, _loop

    return [
        (_checkpoint, "uuid6"),
        (_checkpoint, "datetime"),
        (_loop, "datetime"),
        (message, "uuid"),
    ]


def install() -> None:
    """Install the dispatchers. Idempotent; called by the worker and the replayer."""
    from langgraph.pregel import _checkpoint

    if _Original.uuid6 is None:
        _Original.uuid6 = vars(_checkpoint)["uuid6"]
    replacements = {
        "uuid6": checkpoint_uuid6,
        "datetime": WorkflowAwareDatetime,
        "uuid": _WorkflowAwareUuid(),
    }
    for module, name in patched_names():
        setattr(module, name, replacements[name])
