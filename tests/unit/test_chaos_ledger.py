"""The chaos harness's verdict from its ledger (bench/chaos.py ``judge``): which repeated
node bodies a kill explains, which mean a finished node ran again, what counts as lost."""

from __future__ import annotations

from bench.chaos import Job, Kill, judge, read_ledger


def ledger(*starts: tuple[float, str, str]) -> str:
    return "".join(
        f"{at} 7 {job} {node} start\n{at + 0.1} 7 {job} {node} end\n" for at, job, node in starts
    )


def finished(job: str, done: float) -> Job:
    return Job(job, f"thread-{job}", 0.0, "run", done, "success", ["a", "b", "c", "d"], 1)


CLEAN = [(1.0, "j", "a"), (2.0, "j", "b"), (3.0, "j", "c"), (4.0, "j", "d")]


def test_a_clean_run_has_no_reruns_and_a_kill_between_nodes_has_none_in_flight() -> None:
    kill = Kill(at=2.5, kind="worker", name="worker 1", pid=1)
    verdict = judge(read_ledger(ledger(*CLEAN)), [finished("j", 5.0)], [kill])
    assert (verdict.reruns, verdict.lost, verdict.node_bodies) == (0, [], 4)
    # b started at 2.0 and the run moved on at 3.0: b was in flight at 2.5.
    assert kill.in_flight_nodes == 1 and kill.reruns == 0


def test_a_rerun_after_a_kill_is_explained_and_counted_per_kill() -> None:
    kill = Kill(at=2.2, kind="worker", name="worker 1", pid=1)
    text = ledger(*CLEAN[:2], (2.9, "j", "b"), (3.5, "j", "c"), (4.5, "j", "d"))
    verdict = judge(read_ledger(text), [finished("j", 5.0)], [kill])
    assert verdict.reruns == 1 and kill.reruns == 1
    assert verdict.unexplained_reruns == [] and verdict.finished_reruns == []


def test_a_rerun_with_no_kill_in_between_is_unexplained() -> None:
    text = ledger(*CLEAN[:2], (2.9, "j", "b"), (3.5, "j", "c"), (4.5, "j", "d"))
    verdict = judge(read_ledger(text), [finished("j", 5.0)], [])
    assert len(verdict.unexplained_reruns) == 1


def test_a_node_that_runs_after_the_run_moved_on_is_a_finished_rerun() -> None:
    kill = Kill(at=3.2, kind="temporal", name="temporal history", pid=1)
    text = ledger(*CLEAN, (3.4, "j", "b"))  # b again, after c had started
    verdict = judge(read_ledger(text), [finished("j", 5.0)], [kill])
    assert len(verdict.finished_reruns) == 1 and kill.reruns == 0
    # the last node after the run was seen ended
    text = ledger(*CLEAN, (5.5, "j", "d"))
    kill = Kill(at=5.2, kind="worker", name="worker 2", pid=2)
    assert len(judge(read_ledger(text), [finished("j", 5.0)], [kill]).finished_reruns) == 1


def test_a_second_rerun_for_one_kill_is_unexplained() -> None:
    kill = Kill(at=2.2, kind="postgres", name="tempograph's postgres", pid=1)
    text = ledger(*CLEAN[:2], (2.6, "j", "b"), (2.9, "j", "b"), (3.5, "j", "c"), (4.5, "j", "d"))
    verdict = judge(read_ledger(text), [finished("j", 5.0)], [kill])
    # the second re-run's window (2.6..2.9) holds no kill: unexplained, not this kill's
    assert kill.reruns == 1 and len(verdict.unexplained_reruns) == 1


def test_lost_runs_are_those_not_ended_well_or_with_wrong_steps_or_twice_run() -> None:
    failed = Job("f", "t", 0.0, "r", 1.0, "error", ["a"], 1)
    doubled = Job("d", "t", 0.0, "r", 1.0, "success", ["a", "b", "b", "c", "d"], 1)
    twice = Job("w", "t", 0.0, "r", 1.0, "success", ["a", "b", "c", "d"], 2)
    never = Job("n", "t", 0.0, error="the run was never created")
    verdict = judge({}, [failed, doubled, twice, never, finished("j", 1.0)], [])
    assert [line.split(":")[0] for line in verdict.lost] == ["f", "d", "w", "n"]


def test_temporal_completion_times_decide_what_had_finished() -> None:
    # b ran again at 2.9, before c started (3.5) but after Temporal recorded b done (2.5):
    # a finished node run again, which the next node's start alone would not show.
    kill = Kill(at=2.2, kind="temporal", name="temporal history", pid=1)
    text = ledger(*CLEAN[:2], (2.9, "j", "b"), (3.5, "j", "c"), (4.5, "j", "d"))
    recorded = {"j": [1.5, 2.5, 4.0, 4.8]}
    verdict = judge(read_ledger(text), [finished("j", 5.0)], [kill], recorded)
    assert len(verdict.finished_reruns) == 1 and kill.reruns == 0


def test_an_api_replica_kill_or_an_old_kill_explains_no_rerun() -> None:
    text = ledger(*CLEAN[:2], (2.9, "j", "b"), (3.5, "j", "c"), (4.5, "j", "d"))
    api = Kill(at=2.2, kind="api", name="api replica 1", pid=1)
    verdict = judge(read_ledger(text), [finished("j", 5.0)], [api])
    assert len(verdict.unexplained_reruns) == 1 and api.reruns == 0
    slow = ledger((1.0, "j", "a"), (2.0, "j", "b"), (70.0, "j", "b"), (71.0, "j", "c"))
    old = Kill(at=2.5, kind="worker", name="worker 1", pid=1)
    verdict = judge(read_ledger(slow + ledger((72.0, "j", "d"))), [finished("j", 73.0)], [old])
    assert len(verdict.unexplained_reruns) == 1, "a re-run 67 s after the kill"


def test_a_rerun_is_charged_to_the_first_kill_that_can_explain_it() -> None:
    first = Kill(at=2.2, kind="worker", name="worker 1", pid=1)
    second = Kill(at=2.6, kind="postgres", name="tempograph's postgres", pid=2)
    text = ledger(*CLEAN[:2], (2.9, "j", "b"), (3.5, "j", "c"), (4.5, "j", "d"))
    judge(read_ledger(text), [finished("j", 5.0)], [first, second])
    assert (first.reruns, second.reruns) == (1, 0)
