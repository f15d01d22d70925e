"""The CLI contract: `tempograph up`, `run`, `resume`, `state` and their exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from tempograph.temporal.devserver import temporal_binary
from tempograph.temporal.processes import running
from tests.conftest import TEST_GRAPHS, free_port

TEMPOGRAPH = str(Path(sys.executable).with_name("tempograph"))


@dataclass
class Up:
    process: subprocess.Popen[str]
    env: dict[str, str]
    port: int
    api_port: int = 0
    ui_port: int = 0

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TEMPOGRAPH, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    """The lines printed, once one contains ``needle``; fails if the process ends or time
    runs out. The list keeps growing with what the process prints afterwards (a thread
    reads stdout to its end, so a chatty process never blocks on a full pipe)."""
    assert process.stdout is not None
    stdout = process.stdout
    seen: list[str] = []
    found = threading.Event()
    ended = threading.Event()

    def read() -> None:
        for line in iter(stdout.readline, ""):
            seen.append(line)
            if re.search(rf"\b{re.escape(needle)}\b", line):  # not "already in use"
                found.set()
        ended.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not ended.is_set():
        if found.wait(0.5):
            return seen
    if found.is_set():
        return seen
    pytest.fail(f"no {needle!r} line; output so far: {seen}")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def started(
    args: list[str], env: dict[str, str], ready_within: float = 90, stderr: int = subprocess.STDOUT
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """A ``tempograph`` command run until it prints ``ready``; stopped (by PID) afterwards."""
    process = subprocess.Popen(
        [TEMPOGRAPH, *args], env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    try:
        yield process, wait_for_line(process, "ready", timeout=ready_within)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def up_stack(
    data_dir: Path, config: Path, **env_changes: str | None
) -> Iterator[tuple[Up, list[str]]]:
    """``tempograph up`` for ``config`` on free loopback ports, with ``env_changes`` to the
    environment (None removes a variable); the stack and the lines it printed."""
    port, ui_port, api_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "TEMPOGRAPH_DATA_DIR": str(data_dir),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
    }
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    args = ["up", "--config", str(config), "--port", str(port)]
    args += ["--ui-port", str(ui_port), "--api-port", str(api_port)]
    with started(args, env) as (process, lines):
        yield Up(process, env, port, api_port, ui_port), lines


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with up_stack(
        tmp_path_factory.mktemp("data"),
        TEST_GRAPHS / "langgraph.json",
        SEED_DEMO_WORK_SECONDS="0.02",
        SEED_DEMO_FAILURE_RATE="0.3",
    ) as (stack, lines):
        assert any("no authentication" in line for line in lines)
        yield stack


DEMO_RUN = [
    "run",
    "seed_demo",
    "--input",
    '{"step": 0, "result": ""}',
    "--thread",
    "user-session-001",
    "--recursion-limit",
    "20",
]


def test_run_prints_final_state_and_exits_0(up: Up) -> None:
    result = up.cli(*DEMO_RUN)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"step": 3, "result": "Processed step 3"}
    assert "seed_demo.worker" in result.stderr  # node progress goes to stderr
    state = up.cli("state", "user-session-001")
    assert state.returncode == 0
    assert json.loads(state.stdout)["values"] == {"step": 3, "result": "Processed step 3"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no_such_graph", "--input", "{}"], "unknown graph 'no_such_graph'"),
        (["run", "seed_demo", "--input", "{not json"], "--input is not valid JSON"),
        (["run", "seed_demo", "--input", '{"step": "three"}'], "step: 'three' is not of type"),
        (["run", "seed_demo", "--input", '{"steps": 1}'], "keys ['steps']"),
        (["run", "seed_demo", "--input", "{}", "--recursion-limit", "0"], "recursion-limit"),
        (["resume", "user-session-001", "--value", "true"], "not waiting for input"),
        (["resume", "never-seen-thread", "--value", "true"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message_and_changes_nothing(
    up: Up, args: list[str], message: str
) -> None:
    if up.cli("state", "user-session-001").returncode != 0:  # when run on its own
        assert up.cli(*DEMO_RUN).returncode == 0
    before = up.cli("state", "user-session-001").stdout
    result = up.cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert up.cli("state", "user-session-001").stdout == before


def test_failed_run_exits_1_with_node_and_error(up: Up) -> None:
    result = up.cli("run", "cli_fail", "--input", '{"amount": 5}')
    assert result.returncode == 1
    assert "node 'charge' failed: ValueError: card declined for 5" in result.stderr
    assert json.loads(result.stdout)["error"] == {
        "node": "charge",
        "type": "ValueError",
        "message": "card declined for 5",
    }


def test_interrupt_exits_3_and_resume_continues(up: Up) -> None:
    first = up.cli("run", "approval", "--input", '{"request": "laptop"}', "--thread", "appr-1")
    assert first.returncode == 3, first.stderr
    (pending,) = json.loads(first.stdout)
    assert pending["value"] == {"question": "approve?", "request": "laptop"}
    state = json.loads(up.cli("state", "appr-1").stdout)
    assert state["status"] == "interrupted" and state["next"] == ["approve"]
    assert [i["id"] for i in state["interrupts"]] == [pending["id"]]

    second = up.cli("resume", "appr-1", "--value", '{"approved": true}')
    assert second.returncode == 3
    assert json.loads(second.stdout)[0]["value"] == "who reviews?"
    third = up.cli("resume", "appr-1", "--value", '"ann"')
    assert json.loads(third.stdout)[0]["value"] == "note from ann?"
    done = up.cli("resume", "appr-1", "--value", '"ship it"')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "request": "laptop",
        "approved": True,
        "reviewer": "ann",
        "note": "ship it",
        "log": ["draft laptop", "approve", "review"],
    }


def test_sigterm_stops_everything_up_started(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TEMPOGRAPH_DATA_DIR": str(tmp_path)}
    api_port = free_port()
    args = ["up", "--port", str(port), "--ui-port", str(free_port()), "--api-port", str(api_port)]
    with started(args, env) as (process, lines):
        assert any("seed_demo" in line for line in lines)  # no --config: the demo graph
        assert port_open(port)
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/ok?check_db=1") as ok:
            assert json.loads(ok.read()) == {"ok": True}  # API and embedded Postgres are up
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not port_open(port)
        assert not port_open(api_port)
    assert (tmp_path / "postgres").is_dir()


def test_up_after_a_killed_up_stops_what_it_left_and_stops_cleanly(tmp_path: Path) -> None:
    """A ``tempograph up`` killed with SIGKILL (OOM, ``kill -9``) leaves its dev server and
    Postgres running (each in a session of its own, so Ctrl-C reaches only ``up``). The
    next ``up`` on that data dir stops the dev server it left, by the PID it recorded, and
    takes Postgres over; stopped, it stops both (found 2026-12-02: the port stayed taken,
    and Postgres outlived every later ``up``)."""
    port, ui_port, api_port = free_port(), free_port(), free_port()
    env = {**os.environ, "TEMPOGRAPH_DATA_DIR": str(tmp_path)}
    args = ["up", "--port", str(port), "--ui-port", str(ui_port), "--api-port", str(api_port)]
    pid_file = tmp_path / "temporal" / "temporal.pid"
    postmaster = tmp_path / "postgres" / "postmaster.pid"
    left: list[int] = []
    try:
        with started(args, env) as (first, _):
            left = [int(pid_file.read_text().split()[0]), int(postmaster.read_text().split()[0])]
            first.kill()
            first.wait()
        assert all(running(pid) for pid in left)  # what the killed `up` left
        with started(args, env) as (second, _):
            server = int(pid_file.read_text().split()[0])
            assert not running(left[0]) and server != left[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/ok?check_db=1") as ok:
                assert json.loads(ok.read()) == {"ok": True}
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0
        assert not running(server) and not port_open(port)
        assert not running(left[1])  # Postgres stopped with the last `up` using it
    finally:
        for pid in left:  # our own leftovers, if the test failed before they were stopped
            if running(pid):
                os.kill(pid, signal.SIGKILL)


STUCK_GRAPH = """
import os
import time
from pathlib import Path
from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    n: int


def stuck(state: State) -> dict:
    marker = Path(os.environ["STUCK_MARKER"])
    if not marker.exists():  # the first attempt: a sync node that will not end soon
        marker.write_text("started")
        time.sleep(600)
    return {"n": state.get("n", 0) + 1}


builder = StateGraph(State).add_node("stuck", stuck)
graph = builder.add_edge(START, "stuck").add_edge("stuck", END).compile()
"""


def test_ctrl_c_past_the_grace_stops_up_and_the_next_up_finishes_the_run(
    tmp_path: Path,
) -> None:
    """Ctrl-C while a sync node runs on past the grace (the default, 30 s): ``up`` stops
    its dev server and Postgres and exits, as a crash would end it; nothing can stop the
    node's thread, and waiting for it held Ctrl-C for as long as the node ran (found
    2026-12-03). The next ``up`` on the data dir runs the node again after its heartbeat
    timeout, and the run succeeds."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "stuck.py").write_text(STUCK_GRAPH)
    (project / "langgraph.json").write_text(json.dumps({"graphs": {"stuck": "./stuck.py:graph"}}))
    marker = tmp_path / "started"
    env = {**os.environ, "TEMPOGRAPH_DATA_DIR": str(tmp_path / "data"), "STUCK_MARKER": str(marker)}
    port, ui_port, api_port = free_port(), free_port(), free_port()
    args = ["up", "--config", str(project / "langgraph.json"), "--port", str(port)]
    args += ["--ui-port", str(ui_port), "--api-port", str(api_port)]
    postmaster = tmp_path / "data" / "postgres" / "postmaster.pid"
    with started(args, env, stderr=subprocess.PIPE) as (first, _):
        pg = int(postmaster.read_text().split()[0])
        sdk = get_sync_client(url=f"http://127.0.0.1:{api_port}")
        thread_id = sdk.threads.create()["thread_id"]
        run_id = sdk.runs.create(thread_id, "stuck", input={"n": 0})["run_id"]
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, "the node never started"
            time.sleep(0.2)
        first.send_signal(signal.SIGINT)
        code = first.wait(timeout=120)
        assert first.stderr is not None
        errors = first.stderr.read()
    assert code == 1, errors
    assert "after the stop signal" in errors
    assert not port_open(port) and not port_open(api_port) and not running(pg)

    with started(args, env) as (second, _):
        sdk = get_sync_client(url=f"http://127.0.0.1:{api_port}")
        deadline = time.monotonic() + 120
        while (run := sdk.runs.get(thread_id, run_id))["status"] in ("pending", "running"):
            assert time.monotonic() < deadline, run
            time.sleep(0.5)
        assert run["status"] == "success"
        assert sdk.threads.get_state(thread_id)["values"] == {"n": 1}
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0


def test_dev_server_alone_registers_search_attributes_and_serves_the_ui(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    env = {**os.environ, "TEMPOGRAPH_DATA_DIR": str(tmp_path)}
    args = ["dev-server", "--port", str(port), "--ui-port", str(ui_port)]
    with started(args, env) as (process, _):
        assert (tmp_path / "temporal" / "temporal.db").exists()
        names = subprocess.run(
            [
                str(temporal_binary()),
                "operator",
                "search-attribute",
                "list",
                "--address",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for name in ("ThreadId", "GraphId", "AssistantId"):
            assert name in names
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=30) as page:
            assert page.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not port_open(port)


def test_worker_reports_a_broken_graph_by_name_and_serves_the_others(
    up: Up, tmp_path: Path
) -> None:
    (tmp_path / "broken_graph.py").write_text("import not_a_module_anywhere\n")
    config = tmp_path / "langgraph.json"
    config.write_text(
        json.dumps(
            {
                "graphs": {
                    "broken": "./broken_graph.py:graph",
                    "fails": str(TEST_GRAPHS / "cli_fail.py") + ":graph",
                }
            }
        )
    )
    # Beside `tempograph up`: its data directory names its Temporal and database.
    beside = {k: v for k, v in up.env.items() if k not in ("TEMPORAL_ADDRESS", "DATABASE_URL")}
    env = {**beside, "TEMPOGRAPH_TASK_QUEUE": "cli-broken"}
    args = ["worker", "--config", str(config)]
    with started(args, env, ready_within=60, stderr=subprocess.PIPE) as (process, lines):
        assert "['fails']" in lines[-1]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert process.stderr is not None
        errors = process.stderr.read()
    assert "graph 'broken' not loaded: import of" in errors
    assert "ModuleNotFoundError: No module named 'not_a_module_anywhere'" in errors


def test_up_serves_the_memory_store_from_langgraph_json(up: Up) -> None:
    """langgraph.json's store section (an embedding from a file) reaches the API and the
    worker: a node writes a memory, the SDK finds it by meaning."""
    sdk = get_sync_client(url=f"http://127.0.0.1:{up.api_port}")
    thread = sdk.threads.create()
    result = sdk.runs.wait(thread["thread_id"], "memory", input={"user": "cli", "fact": "tea"})
    assert result["recalled"] == ["tea"]
    found = sdk.store.search_items(["memories", "cli"], query="tea")
    assert [item["key"] for item in found["items"]] == ["tea"]
    assert found["items"][0]["score"] is not None  # ranked by the configured embedding


def test_up_applies_the_projects_auth_and_the_cli_sends_credentials(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with up_stack(
        tmp_path_factory.mktemp("auth-data"),
        TEST_GRAPHS / "auth_app" / "langgraph.json",
        LANGGRAPH_API_KEY=None,
        TEMPOGRAPH_TOKEN=None,
    ) as (up, lines):
        env = up.env
        assert any("auth from langgraph.json" in line for line in lines)
        anonymous = up.cli("run", "whoami", "--input", "{}")
        assert anonymous.returncode == 2
        assert "401: No credentials" in anonymous.stderr
        assert "LANGGRAPH_API_KEY" in anonymous.stderr
        up.env = {**env, "LANGGRAPH_API_KEY": "alice-key"}
        keyed = up.cli("run", "whoami", "--input", "{}", "--thread", "alice-1")
        assert keyed.returncode == 0, keyed.stderr
        assert json.loads(keyed.stdout)["identity"] == "alice"
        up.env = {**env, "TEMPOGRAPH_TOKEN": "bob-token"}
        other = up.cli("state", "alice-1")  # Alice's thread is a 404 to Bob
        assert other.returncode == 2
        assert "does not exist" in other.stderr


def test_built_in_keys_from_the_cli(tmp_path_factory: pytest.TempPathFactory) -> None:
    with up_stack(
        tmp_path_factory.mktemp("keys-data"),
        TEST_GRAPHS / "langgraph.json",
        TEMPOGRAPH_AUTH="keys",
        SEED_DEMO_WORK_SECONDS="0.01",
        SEED_DEMO_FAILURE_RATE="0",
        LANGGRAPH_API_KEY=None,
    ) as (up, lines):
        env = up.env
        assert any("built-in auth (keys)" in line for line in lines)
        made = up.cli("keys", "create", "--tenant", "acme", "--role", "operator", "--name", "ci")
        assert made.returncode == 0, made.stderr
        operator = json.loads(made.stdout)
        assert (operator["tenant_id"], operator["role"]) == ("acme", "operator")
        assert "shown only now" in made.stderr
        viewer = json.loads(up.cli("keys", "create", "--tenant", "acme", "--role", "viewer").stdout)
        bad_role = up.cli("keys", "create", "--tenant", "acme", "--role", "root")
        assert bad_role.returncode == 2
        listed = json.loads(up.cli("keys", "list", "--tenant", "acme").stdout)
        assert {k["key_id"] for k in listed} == {operator["key_id"], viewer["key_id"]}
        assert operator["key"] not in json.dumps(listed)
        assert up.cli(*DEMO_RUN).returncode == 2  # no key
        up.env = {**env, "LANGGRAPH_API_KEY": viewer["key"]}
        refused = up.cli(*DEMO_RUN)
        assert refused.returncode == 2
        assert "needs the operator role" in refused.stderr
        up.env = {**env, "LANGGRAPH_API_KEY": operator["key"]}
        ran = up.cli(*DEMO_RUN)
        assert ran.returncode == 0, ran.stderr
        # Another tenant's `user-session-001` is a thread of its own.
        up.env = env
        other = json.loads(
            up.cli("keys", "create", "--tenant", "globex", "--role", "operator").stdout
        )
        up.env = {**env, "LANGGRAPH_API_KEY": other["key"]}
        assert up.cli("state", "user-session-001").returncode == 2  # not acme's
        theirs = up.cli(*DEMO_RUN)
        assert theirs.returncode == 0, theirs.stderr
        up.env = {**env, "LANGGRAPH_API_KEY": operator["key"]}
        up.env = env
        assert up.cli("keys", "revoke", operator["key_id"]).returncode == 0
        assert up.cli("keys", "revoke", "nope").returncode == 2
        up.env = {**env, "LANGGRAPH_API_KEY": operator["key"]}
        revoked = up.cli("state", "user-session-001")
        assert revoked.returncode == 2
        assert "401" in revoked.stderr
        up.env = env
        verified = up.cli("audit", "verify")
        assert verified.returncode == 0, verified.stderr
        report = json.loads(verified.stdout)
        assert report["ok"] is True and report["rows"] >= 3  # the runs, and refusals


def test_up_refuses_a_project_whose_graphs_cannot_load_before_starting_anything(
    tmp_path: Path,
) -> None:
    """A policy mistake in the only graph: one clear line and exit 1, no stack started."""
    config = tmp_path / "langgraph.json"
    config.write_text(
        json.dumps(
            {
                "graphs": {
                    "refund": str(TEST_GRAPHS / "observed_app" / "observed.py") + ":refund_graph"
                },
                "tempograph": {
                    "graphs": {"refund": {"nodes": {"review": {"approval_timeout": 5}}}}
                },
            }
        )
    )
    env = {**os.environ, "TEMPOGRAPH_DATA_DIR": str(tmp_path / "data")}
    port = free_port()
    done = subprocess.run(
        [TEMPOGRAPH, "up", "--config", str(config), "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "no graph in" in done.stderr and "approval_timeout needs approval_default" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not port_open(port)
