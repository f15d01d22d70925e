"""The operator's numbers, on a real worker and API: what a run cost (stored with the run
and returned by the API), and Prometheus metrics of runs, node attempts, retries, tokens,
cost, waiting interrupts, the task queue's backlog and the Temporal SDK."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from tempograph.temporal.devserver import DevServer
from tests.conftest import load_test_graph
from tests.integration.api_server import observed_stack


@pytest.fixture(scope="module")
async def api(
    dev_server: DevServer, client: Client, postgres_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    graphs = load_test_graph("approval", "approval.py:graph")
    async with observed_stack(dev_server, client, postgres_url, {"approval": graphs}) as http:
        yield http


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(
    seen: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return sum(v for (n, ls), v in seen.items() if n == name and set(labels.items()) <= ls)


async def test_a_run_shows_what_its_model_calls_cost(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    sdk = get_client(url=str(api.base_url))
    thread = await sdk.threads.create()
    flaky = str(tmp_path / "flaky")
    out = await sdk.runs.wait(
        thread["thread_id"],
        "observed",
        input={"messages": [{"role": "user", "content": "weather?"}], "flaky_file": flaky},
    )
    assert out["weather"] == "sunny in Lisbon"
    runs = await sdk.runs.list(thread["thread_id"])
    run = await sdk.runs.get(thread["thread_id"], runs[0]["run_id"])
    usage = run["usage"]
    assert usage["input_tokens"] == 1200 and usage["output_tokens"] == 300
    assert usage["total_tokens"] == 1500
    # 1200 input tokens at $2.50 and 300 output tokens at $10 per million.
    assert usage["cost_usd"] == pytest.approx(0.006)
    assert usage["models"]["fake-gpt"]["calls"] == 1
    # Its timeline: every node attempt, the failed one with its error.
    reply = await api.get(f"/threads/{thread['thread_id']}/runs/{run['run_id']}/attempts")
    attempts = [(a["node"], a["attempt"], a["outcome"]) for a in reply.json()]
    assert attempts == [("ask", 1, "ok"), ("flaky", 1, "retrying"), ("flaky", 2, "ok")]
    failed = reply.json()[1]
    assert failed["error"] == {"error": "RuntimeError", "message": "Transient failure"}
    assert failed["started_at"] and failed["ended_at"]  # when it ran, for the timeline


async def test_metrics_count_runs_attempts_retries_tokens_and_waiting_work(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    before = samples((await api.get("/metrics")).text)
    sdk = get_client(url=str(api.base_url))
    await sdk.runs.wait(
        None,
        "observed",
        input={"messages": [{"role": "user", "content": "hi"}], "flaky_file": str(tmp_path / "f")},
    )
    waiting = await sdk.threads.create()
    await sdk.runs.wait(waiting["thread_id"], "approval", input={"request": "deploy"})
    reply = await api.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    after = samples(reply.text)

    def grew(name: str, by: float = 1, **labels: str) -> None:
        assert value(after, name, **labels) - value(before, name, **labels) >= by, (name, labels)

    grew("tempograph_runs_started_total", graph="observed")
    grew("tempograph_runs_finished_total", graph="observed", outcome="success")
    grew("tempograph_run_duration_seconds_count", graph="observed", outcome="success")
    grew("tempograph_node_attempts_total", graph="observed", node="flaky", outcome="retrying")
    grew("tempograph_node_attempts_total", graph="observed", node="flaky", outcome="ok")
    grew("tempograph_node_retries_total", graph="observed", node="flaky", error_type="RuntimeError")
    grew("tempograph_node_duration_seconds_count", graph="observed", node="ask", outcome="ok")
    grew("tempograph_llm_tokens_total", 1200, model="fake-gpt", kind="input")
    grew("tempograph_llm_tokens_total", 300, model="fake-gpt", kind="output")
    assert value(after, "tempograph_llm_cost_usd_total", model="fake-gpt") > 0
    assert value(after, "tempograph_interrupts_waiting", graph="approval") >= 1
    assert value(after, "tempograph_interrupt_oldest_wait_seconds", graph="approval") >= 0
    assert any(n == "tempograph_task_queue_backlog" for n, _ in after)
    # The Temporal SDK's own, from the same page: the API's client calls here (the
    # worker in this test uses the suite's client; test_cli checks a worker's).
    grew("temporal_request_total", operation="StartWorkflowExecution")


async def test_metrics_refuse_bad_scrapes_clearly(api: httpx.AsyncClient) -> None:
    reply = await api.post("/metrics")
    assert reply.status_code == 405
    assert "detail" in reply.json()
    missing = await api.get(f"/threads/{uuid.uuid4()}/runs/{uuid.uuid4()}")
    assert missing.status_code == 404


async def test_the_temporal_ui_finds_runs_by_thread_graph_and_status(
    api: httpx.AsyncClient, client: Client
) -> None:
    sdk = get_client(url=str(api.base_url))
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "approval", input={"request": "deploy"})

    async def found(query: str) -> list[str]:
        for _ in range(50):  # visibility trails the history by a moment
            ids = [w.id async for w in client.list_workflows(query)]
            if ids:
                return ids
            await asyncio.sleep(0.2)
        return []

    waiting = await found(f"ThreadId = '{tid}' AND GraphId = 'approval' AND RunStatus = 'waiting'")
    assert len(waiting) == 1
    done = await sdk.threads.create()
    await sdk.runs.wait(
        done["thread_id"], "observed", input={"messages": [{"role": "user", "content": "hi"}]}
    )
    query = f"ThreadId = '{done['thread_id']}' AND GraphId = 'observed' AND RunStatus = "
    assert len(await found(query + "'success'")) == 1
    assert [w.id async for w in client.list_workflows(query + "'waiting'")] == []


async def test_an_unanswered_approval_gets_its_default_answer_at_the_deadline(
    api: httpx.AsyncClient,
) -> None:
    """Node policy approval_timeout/approval_default: a durable timer in the workflow
    answers for the human, in an API run of its own (audited), as command.resume does."""
    sdk = get_client(url=str(api.base_url))
    slow = await sdk.threads.create()
    await sdk.runs.wait(slow["thread_id"], "refund_deadline", input={"amount": 900})
    assert (await sdk.threads.get(slow["thread_id"]))["status"] == "interrupted"
    quick = await sdk.threads.create()
    await sdk.runs.wait(quick["thread_id"], "refund_deadline", input={"amount": 5})
    answered = await sdk.runs.wait(
        quick["thread_id"], "refund_deadline", command={"resume": {"approved": True}}
    )
    assert answered["decision"] == {"approved": True}  # before the deadline: the human's

    for _ in range(100):
        state = await sdk.threads.get_state(slow["thread_id"])
        if not state["next"]:
            break
        await asyncio.sleep(0.1)
    assert state["values"]["decision"] == {"approved": False, "comment": "no answer in time"}
    runs = await sdk.runs.list(slow["thread_id"])
    assert [r["status"] for r in runs] == ["success", "success"]
    assert runs[0]["metadata"]["answered_by"] == "deadline"
    audit = (await api.get("/audit", params={"action": "runs.default_answer"})).json()
    assert any(row["resource_id"] == slow["thread_id"] for row in audit)
    await asyncio.sleep(2.5)  # the answered thread's deadline passes: nothing happens
    assert len(await sdk.runs.list(quick["thread_id"])) == 2
