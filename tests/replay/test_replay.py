"""Every recorded history replays on today's code; a graph change that breaks one is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.workflow import NondeterminismError

from tempograph.temporal.worker import build_replayer
from tests.conftest import FAST_RETRY, TEST_GRAPHS, load_test_graph
from tests.replay.api_scenarios import API_SCENARIOS
from tests.replay.scenarios import SCENARIOS, graphs

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))


def load_history(path: Path) -> WorkflowHistory:
    workflow_id = path.stem.split("__")[1]
    return WorkflowHistory.from_json(workflow_id, path.read_text())


def test_histories_were_recorded() -> None:
    recorded = {p.stem.split("__", 1)[0] for p in HISTORIES}
    assert {s.name for s in SCENARIOS} | set(API_SCENARIOS) == recorded


def label(path: Path) -> str:
    scenario, workflow_id, execution = path.stem.split("__")
    kind = "thread" if workflow_id.startswith("thread-") else "run"
    return f"{scenario}:{kind}:{execution}"


@pytest.mark.parametrize("path", HISTORIES, ids=[label(p) for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = build_replayer(graphs())
    await replayer.replay_workflow(load_history(path))


async def test_a_changed_graph_is_detected_not_replayed() -> None:
    changed = graphs()
    assert (TEST_GRAPHS / "replay_changed.py").exists()
    changed["approval"] = load_test_graph("approval", "replay_changed.py:graph", FAST_RETRY)
    replayer = build_replayer(changed)
    run_history = next(
        p for p in HISTORIES if p.stem.startswith("approval__") and "__thread-" not in p.stem
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load_history(run_history))
