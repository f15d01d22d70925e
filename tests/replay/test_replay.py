"""Every recorded history replays on today's code; a graph change that breaks one is caught."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import NondeterminismError

from tempograph.temporal.codec import data_converter
from tempograph.temporal.worker import build_replayer
from tempograph.valuestore import MemoryValueStore
from tempograph.workflows.serde import serializer
from tempograph.workflows.types import NodeResult
from tempograph.workflows.values import PartData
from tests.conftest import FAST_RETRY, TEST_GRAPHS, load_test_graph
from tests.replay.api_scenarios import API_SCENARIOS, OPERATOR_SCENARIOS
from tests.replay.record import CRONS
from tests.replay.scenarios import SCENARIOS, graphs

FOLDER = Path(__file__).resolve().parent / "histories"
HISTORIES = sorted(p for p in FOLDER.glob("*.json") if p.name != "values.json")


def values() -> MemoryValueStore:
    """The values the recorded payloads name (claim checks), as recorded."""
    return MemoryValueStore.load(FOLDER / "values.json")


def load_history(path: Path) -> WorkflowHistory:
    workflow_id = path.stem.split("__")[1]
    return WorkflowHistory.from_json(workflow_id, path.read_text())


def test_histories_were_recorded() -> None:
    recorded = {p.stem.split("__", 1)[0] for p in HISTORIES}
    scenarios = {s.name for s in SCENARIOS} | set(API_SCENARIOS) | set(OPERATOR_SCENARIOS)
    assert scenarios | {CRONS} == recorded


def label(path: Path) -> str:
    scenario, workflow_id, execution = path.stem.split("__")
    kind = workflow_id.split("-", 1)[0] if workflow_id[:5] in ("webho", "cron-") else "run"
    return f"{scenario}:{kind}:{workflow_id[:8]}:{execution}"


@pytest.mark.parametrize("path", HISTORIES, ids=[label(p) for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = build_replayer(graphs(), values())
    await replayer.replay_workflow(load_history(path))


async def test_histories_replay_in_the_strict_sandbox() -> None:
    """Our workflow code, sandboxed (not passed through): a clock, random or I/O call
    in it fails here. Production workers run unsandboxed (see temporal/worker.py)."""
    replayer = build_replayer(graphs(), values(), sandboxed=True)
    for path in HISTORIES:
        await replayer.replay_workflow(load_history(path))


def test_histories_stay_small_whatever_the_state() -> None:
    """Every payload in the corpus is a few KB at most: large values are claim checks."""
    largest = max(
        (len(p.read_text()) for p in HISTORIES if p.stem.startswith("large_state__")),
        default=0,
    )
    assert 0 < largest < 120_000  # the whole history of a run on ~700 KB of state


async def test_a_changed_graph_is_detected_not_replayed() -> None:
    changed = graphs()
    assert (TEST_GRAPHS / "replay_changed.py").exists()
    changed["approval"] = load_test_graph("approval", "replay_changed.py:graph", FAST_RETRY)
    replayer = build_replayer(changed, values())
    run_history = next(p for p in HISTORIES if p.stem.startswith("approval__"))
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load_history(run_history))


def test_the_corpus_keeps_histories_from_before_the_run_status_attribute() -> None:
    """Two histories were recorded before RunWorkflow upserted RunStatus (behind the
    ``run-status-search-attribute`` patch); they replay above, so workflows started by
    an older version still replay on this one."""
    upserts = "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"
    runs = [p for p in HISTORIES if "__webhook-" not in p.name]
    before = [p for p in runs if upserts not in p.read_text()]
    assert len(before) >= 2 and len(before) < len(runs)


def test_the_corpus_holds_an_operators_reset() -> None:
    """A run reset from the Temporal UI replays like any other: its new execution's
    history (the old events to the reset point, the reset's failed workflow task, the
    branch run again) is in the corpus, and replays above."""
    [reset] = [
        p
        for p in HISTORIES
        if p.stem.startswith("api_reset_after_failure__") and p.stem.endswith("__1")
    ]
    assert "WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW" in reset.read_text()
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED" in reset.read_text()


def test_the_corpus_holds_a_run_that_continued_as_new() -> None:
    """A run that outgrew its history (the recording lowers Temporal's threshold) went on
    in new executions: each continued-as-new history, and the last, completed one, is in
    the corpus and replays above."""
    chain = sorted(p for p in HISTORIES if p.stem.startswith("continued__"))
    assert len(chain) >= 2
    for path in chain[:-1]:
        assert "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW" in path.read_text()
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED" in chain[-1].read_text()


async def test_the_corpus_holds_node_results_with_and_without_stamps() -> None:
    """Node results recorded since checkpoint ids derive from them carry a stamp (see
    workflows/ids.py); those recorded before do not, and replay above all the same: a run
    in flight when a worker is upgraded goes on minting as it began."""
    converter = data_converter(values())

    async def stamps(path: Path) -> list[str | None]:
        found = []
        for event in load_history(path).events:
            if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                continue
            payloads = event.activity_task_completed_event_attributes.result.payloads
            [result] = await converter.decode(payloads, [NodeResult])
            found.append(result.stamp if isinstance(result, NodeResult) else None)
        return found

    runs = [p for p in HISTORIES if p.stem.split("__")[1][:5] not in ("webho", "cron-")]
    found = {p.stem: await stamps(p) for p in runs}
    stamped = [name for name, seen in found.items() if seen and all(seen)]
    unstamped = [name for name, seen in found.items() if seen and not any(seen)]
    assert any(name.startswith("api_reset_after_failure__") for name in stamped)
    assert len(stamped) >= 5 and len(unstamped) >= 5
    assert all(len(set(seen)) == len(seen) for name, seen in found.items() if name in stamped)


class _Calls(Interceptor):
    """Collects the arguments of every activity a replayed workflow schedules."""

    def __init__(self) -> None:
        self.args: list[Sequence[Any]] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        calls = self

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> Any:
                calls.args.append(input.args)
                return super().start_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


@pytest.mark.parametrize(
    "path",
    [p for p in HISTORIES if p.stem.split("__")[1][:5] not in ("webho", "cron-")],
    ids=lambda p: label(p),
)
async def test_a_replay_schedules_every_activity_with_the_recorded_input(path: Path) -> None:
    """Temporal checks a replay's commands, not their arguments: a checkpoint id minted
    differently on replay would pass it and then fork the thread. Every activity input a
    replay makes (checkpoint rows, ids, parts, events) equals the recorded one."""
    store = values()
    calls = _Calls()
    await build_replayer(graphs(), store, interceptors=[calls]).replay_workflow(load_history(path))
    converter = data_converter(store)
    assert converter.payload_codec is not None
    recorded = [
        event.activity_task_scheduled_event_attributes.input.payloads
        for event in load_history(path).events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert len(calls.args) == len(recorded)
    codec, to_python = converter.payload_codec, converter.payload_converter
    for args, payloads in zip(calls.args, recorded, strict=True):
        types = [type(arg) for arg in args]
        # Through the converter and codec both ways (tuples become lists, the bytes of
        # stored parts come back), as the recorded input went.
        sent = await codec.encode(to_python.to_payloads(list(args)))
        replayed = _opened(to_python.from_payloads(await codec.decode(sent), types))
        decoded = _opened(to_python.from_payloads(await codec.decode(payloads), types))
        for mine, theirs in zip(replayed, decoded, strict=True):
            # Fields added since a history was recorded are absent (None) from its inputs.
            for field in [key for key, value in theirs.items() if value is None]:
                mine.pop(field)
                theirs.pop(field)
            assert mine == theirs


def _opened(value: Any) -> Any:
    """``value`` with LangGraph-serialized blobs loaded: their bytes may order a dict's
    keys differently (a run's metadata) for the same content. A part is its hash and
    whether the receiver decodes it: its bytes are the hash's (a node's call comes
    without them, its activity fetches them; histories recorded before came with them)."""
    if isinstance(value, PartData):
        return {"kind": value.kind, "needed": value.needed}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _opened(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: _opened(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if len(value) == 2 and value[0] == "msgpack" and isinstance(value[1], bytes):
            return serializer().loads_typed(("msgpack", value[1]))
        return [_opened(item) for item in value]
    return value
