"""The chaos harness's short version (bench/chaos.py): under a steady load of runs on
``tempograph cluster up`` with its defaults, one SIGKILL of each kind — a worker, an API
replica, a Temporal service, Temporal's Postgres, Tempograph's Postgres — loses no run,
runs no finished node again, and re-runs only nodes a kill caught in flight."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chaos import KINDS

HARNESS = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


@pytest.mark.timeout(900)
def test_one_kill_of_each_kind_under_load_loses_nothing(tmp_path: Path) -> None:
    figures = tmp_path / "chaos.json"
    command = [sys.executable, str(HARNESS), "--runs", "20", "--kills", str(len(KINDS))]
    command += ["--max-kills", str(len(KINDS)), "--every", "5", "--json", str(figures)]
    command += ["--workdir", str(tmp_path / "chaos"), "--start-within", "300"]
    command += ["--deadline", "360", "--per-run", "120"]
    # At most 300 s to start, 360 s of load, 120 s to stop: inside the test's 900 s.
    harness = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        report, _ = harness.communicate(timeout=850)
    finally:
        if harness.poll() is None:  # it stops its cluster on SIGTERM
            harness.terminate()
            try:
                harness.wait(150)
            except subprocess.TimeoutExpired:
                harness.kill()
                harness.wait()
    log = tmp_path / "chaos" / "cluster.log"
    assert harness.returncode == 0, report + log.read_text()[-5000:]
    found = json.loads(figures.read_text())
    verdict, kills = found["verdict"], found["kills"]
    assert verdict["runs"] >= 20 and verdict["lost"] == [], report
    assert verdict["finished_reruns"] == [] and verdict["unexplained_reruns"] == [], report
    # Every node ran, and ran again only where a kill caught it.
    assert verdict["node_bodies"] == 4 * verdict["runs"] + verdict["reruns"], report
    assert sorted(k["kind"] for k in kills) == sorted(KINDS), report
    for kill in kills:
        assert kill["replaced_after"] is not None, kill
        assert kill["recovered_after"] is not None, kill
