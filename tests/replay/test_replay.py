"""Every recorded history replays on today's code; a graph change that breaks one is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.workflow import NondeterminismError

from tempograph.temporal.worker import build_replayer
from tempograph.valuestore import MemoryValueStore
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
