"""Runs through the official langgraph-sdk and RemoteGraph, against a real worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tempograph.temporal.devserver import DevServer
from tests.conftest import load_test_graph
from tests.integration.api_server import api_stack, webhook_receiver

QUEUE = f"api-runs-{uuid.uuid4()}"


@pytest.fixture(scope="module")
async def api(dev_server: DevServer, client: Client, postgres_url: str) -> AsyncIterator[str]:
    graphs = {
        "chain3": load_test_graph("chain3", "api_graphs.py:chain3"),
        "chat": load_test_graph("chat", "api_graphs.py:chat"),
        "flaky_chat": load_test_graph("flaky_chat", "api_graphs.py:flaky_chat"),
        "flaky_fresh_chat": load_test_graph("flaky_fresh_chat", "api_graphs.py:flaky_fresh_chat"),
        "chat_with_agent": load_test_graph("chat_with_agent", "api_graphs.py:chat_with_agent"),
        "slow": load_test_graph("slow", "api_graphs.py:slow_graph"),
        "quick_then_slow": load_test_graph("quick_then_slow", "api_graphs.py:quick_then_slow"),
        "approval": load_test_graph("approval", "approval.py:graph"),
        "feat_subgraph": load_test_graph("feat_subgraph", "feat_subgraph.py:graph"),
    }
    async with api_stack(dev_server, client, postgres_url, graphs, task_queue=QUEUE) as http:
        yield str(http.base_url)


async def test_wait_returns_the_final_state(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    result = await sdk.runs.wait(thread["thread_id"], "chain3", input={"steps": []})
    assert result == {"steps": ["a", "b", "c"]}
    runs = await sdk.runs.list(thread["thread_id"])
    assert [r["status"] for r in runs] == ["success"]
    after = await sdk.threads.get(thread["thread_id"])
    assert after["status"] == "idle" and after["values"] == {"steps": ["a", "b", "c"]}


async def test_stream_values_and_updates(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    parts: list[Any] = []
    async for part in sdk.runs.stream(
        thread["thread_id"], "chain3", input={"steps": []}, stream_mode=["values", "updates"]
    ):
        parts.append((part.event, part.data))
    assert parts[0][0] == "metadata"
    assert [p for p in parts if p[0] == "updates"] == [
        ("updates", {"a": {"steps": ["a"]}}),
        ("updates", {"b": {"steps": ["b"]}}),
        ("updates", {"c": {"steps": ["c"]}}),
    ]
    assert [p[1] for p in parts if p[0] == "values"][-1] == {"steps": ["a", "b", "c"]}


async def test_messages_stream_tokens(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    events: list[Any] = []
    async for part in sdk.runs.stream(
        thread["thread_id"],
        "chat",
        input={"messages": [{"role": "user", "content": "hi"}]},
        stream_mode=["messages-tuple", "custom"],
    ):
        events.append((part.event, part.data))
    tokens = [d[0]["content"] for e, d in events if e == "messages"]
    assert "".join(tokens) == "hello from the durable model"
    assert ("custom", {"progress": "answered"}) in events


async def test_interrupt_and_resume(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    first = await sdk.runs.wait(tid, "approval", input={"request": "x", "log": []})
    assert first["__interrupt__"][0]["value"] == {"question": "approve?", "request": "x"}
    state = await sdk.threads.get_state(tid)
    assert state["next"] == ["approve"]
    assert (await sdk.threads.get(tid))["status"] == "interrupted"
    second = await sdk.runs.wait(tid, "approval", command={"resume": {"approved": False}})
    assert second["approved"] is False and "__interrupt__" not in second
    runs = await sdk.runs.list(tid)
    assert [r["status"] for r in runs] == ["success", "success"]
    assert (await sdk.threads.get(tid))["status"] == "idle"


async def test_resume_when_not_waiting_is_409(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    with pytest.raises(httpx.HTTPStatusError) as err:
        await sdk.runs.wait(thread["thread_id"], "approval", command={"resume": 1})
    assert err.value.response.status_code == 409
    assert await sdk.runs.list(thread["thread_id"]) == []


async def test_bad_run_requests_get_clear_errors_and_store_nothing(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create(metadata={"owner": "bad-input"})
    tid = thread["thread_id"]
    async with httpx.AsyncClient(base_url=api) as http:
        cases: list[tuple[str, Any, int, str]] = [
            (f"/threads/{tid}/runs", b"{not json", 422, "json"),
            (f"/threads/{tid}/runs", {"input": {}}, 422, "assistant_id"),
            (
                f"/threads/{tid}/runs",
                {"assistant_id": "chain3", "stream_mode": "x"},
                422,
                "stream_mode",
            ),
            (
                f"/threads/{tid}/runs",
                {"assistant_id": "chain3", "multitask_strategy": "sometimes"},
                422,
                "multitask_strategy",
            ),
            (f"/threads/{tid}/runs", {"assistant_id": "nope"}, 422, "Invalid assistant"),
            (
                f"/threads/{tid}/runs",
                {"assistant_id": "00000000-0000-0000-0000-000000000000"},
                404,
                "not found",
            ),
            (
                f"/threads/{tid}/runs",
                {"assistant_id": "chain3", "input": {"steps": 3}},
                422,
                "steps",
            ),
            (f"/threads/{tid}/runs", {"assistant_id": "chain3", "input": {"x": 1}}, 422, "x"),
            # What LangGraph cannot turn into messages would fail the run's first step.
            (
                f"/threads/{tid}/runs",
                {"assistant_id": "chat", "input": {"messages": 5}},
                422,
                "messages: not messages: Unsupported message type",
            ),
            (
                f"/threads/{tid}/runs",
                {"assistant_id": "chat", "input": {"messages": [{"foo": 1}]}},
                422,
                "'role' and 'content'",
            ),
            ("/threads/not-a-uuid/runs", {"assistant_id": "chain3"}, 422, "UUID"),
            (
                "/threads/00000000-0000-0000-0000-000000000000/runs",
                {"assistant_id": "chain3"},
                404,
                "not found",
            ),
            (
                f"/threads/{tid}/runs",
                {"assistant_id": "chain3", "input": {"steps": ["x" * (33 * 1024 * 1024)]}},
                413,
                "too large",
            ),
        ]
        for path, body, status, words in cases:
            if isinstance(body, bytes):
                response = await http.post(
                    path, content=body, headers={"Content-Type": "application/json"}
                )
            else:
                response = await http.post(path, json=body)
            assert response.status_code == status, (path, body, response.text)
            detail = response.json()["detail"]
            assert isinstance(detail, str) and words.lower() in detail.lower(), detail

        async def chunked() -> Any:  # no Content-Length: the limit holds while reading
            yield b'{"assistant_id": "chain3", "input": {"steps": ["'
            for _ in range(33):
                yield b"x" * (1024 * 1024)
            yield b'"]}}'

        response = await http.post(
            f"/threads/{tid}/runs", content=chunked(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, response.text
        assert "too large" in response.json()["detail"]
        missing = await http.get(f"/threads/{tid}/runs/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404 and "not found" in missing.json()["detail"]
        assert (await http.get(f"/threads/{tid}/runs/xyz")).status_code == 422
    assert await sdk.runs.list(tid) == []
    after = await sdk.threads.get(tid)
    assert after["status"] == "idle" and after["values"] is None
    assert after["metadata"] == {"owner": "bad-input"}


async def test_a_failing_node_fails_its_run_with_the_error_visible(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    events = [
        (p.event, p.data) async for p in sdk.runs.stream(tid, "slow", input={"seconds": -1.0})
    ]
    assert events[0][0] == "metadata"
    assert events[-1] == (
        "error",
        {"error": "ValueError", "message": "seconds must not be negative", "node": "slow"},
    )
    [run] = await sdk.runs.list(tid)
    assert run["status"] == "error"
    failed = await sdk.threads.get(tid)
    assert failed["status"] == "error"
    assert failed["error"] == {
        "error": "ValueError",
        "message": "seconds must not be negative",
        "node": "slow",
    }
    body = await sdk.runs.join(tid, run["run_id"])
    assert body == {"__error__": failed["error"]}
    assert (await sdk.runs.get(tid, run["run_id"]))["error"] == failed["error"]
    # The failed task in the state shows the node's own error, as in process
    # (LangGraph keeps its repr).
    [task] = (await sdk.threads.get_state(tid))["tasks"]
    assert (task["name"], task["error"]) == ("slow", "ValueError('seconds must not be negative')")
    # The thread is usable again: the next run starts from the last good checkpoint.
    assert await sdk.runs.wait(tid, "slow", input={"seconds": 0}) == {
        "seconds": 0,
        "steps": ["slow", "after"],
    }


async def test_a_retried_node_does_not_show_its_tokens_twice(api: str, client: Client) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    parts = [
        (p.event, p.data)
        async for p in sdk.runs.stream(
            tid,
            "flaky_chat",
            input={"messages": [{"role": "user", "content": "hi"}]},
            stream_mode="messages-tuple",
        )
    ]
    tokens = [data[0]["content"] for event, data in parts if event == "messages"]
    assert "".join(tokens) == "tokens once only"
    [run] = await sdk.runs.list(tid)
    assert run["status"] == "success"
    assert (await sdk.runs.get(tid, run["run_id"]))["error"] is None
    history = await client.get_workflow_handle(run["run_id"]).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts == [2]  # the node ran twice; its tokens were shown once


async def test_a_retry_streams_its_new_answer_whole_not_spliced_onto_the_failed_one(
    api: str,
) -> None:
    """A retried model call answers anew under a new message id: the client sees each
    attempt's message whole (as LangGraph streams a retried node in-process), and the
    thread keeps the retry's."""
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    by_id: dict[str, str] = {}
    async for part in sdk.runs.stream(
        tid,
        "flaky_fresh_chat",
        input={"messages": [{"role": "user", "content": "hi"}]},
        stream_mode="messages-tuple",
    ):
        if part.event == "messages":
            chunk = part.data[0]
            by_id[chunk["id"]] = by_id.get(chunk["id"], "") + chunk["content"]
    assert list(by_id.values()) == ["a long first answer that the connection cut", "second try"]
    state = await sdk.threads.get_state(tid)
    last = state["values"]["messages"][-1]
    assert (last["content"], last["id"]) == ("second try", list(by_id)[1])


async def test_streaming_adds_no_round_trip_per_node(api: str, client: Client) -> None:
    """A run streamed through the API has the same activities as the same run started
    without any stream, and at most one workflow task more in all: the events ride along
    with the node calls."""

    def shape(events: list[Any]) -> list[str]:
        kept = (
            EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        )
        return [EventType.Name(e.event_type) for e in events if e.event_type in kept]

    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    async for _ in sdk.runs.stream(
        thread["thread_id"],
        "chain3",
        input={"steps": []},
        stream_mode=["values", "updates", "debug"],
    ):
        pass
    [streamed] = await sdk.runs.list(thread["thread_id"])
    plain = await sdk.threads.create()
    # Streaming nothing: no events at all to carry.
    ticket = await sdk.runs.create(
        plain["thread_id"], "chain3", input={"steps": []}, stream_mode=[]
    )
    await sdk.runs.join(plain["thread_id"], ticket["run_id"])
    with_stream = await client.get_workflow_handle(streamed["run_id"]).fetch_history()
    without = await client.get_workflow_handle(ticket["run_id"]).fetch_history()
    scheduled = "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    tasks = "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"
    assert shape(with_stream.events).count(scheduled) == shape(without.events).count(scheduled) == 3
    # At most one more workflow task per run, none per node: the run's end is written (by
    # a local activity) after the thread has the run's checkpoints.
    assert shape(with_stream.events).count(tasks) <= shape(without.events).count(tasks) + 1


async def _until_running(sdk: Any, thread_id: str, run_id: str) -> None:
    for _ in range(400):
        if (await sdk.runs.get(thread_id, run_id))["status"] == "running":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never started")


async def test_rollback_undoes_a_run_as_if_it_never_happened(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    first = await sdk.runs.wait(tid, "slow", input={"seconds": 0})
    assert first == {"seconds": 0, "steps": ["slow", "after"]}
    before = await sdk.threads.get_state(tid)

    doomed = await sdk.runs.create(tid, "slow", input={"seconds": 30})
    await _until_running(sdk, tid, doomed["run_id"])
    await sdk.runs.cancel(tid, doomed["run_id"], wait=True, action="rollback")
    with pytest.raises(NotFoundError):
        await sdk.runs.get(tid, doomed["run_id"])
    after = await sdk.threads.get_state(tid)
    assert after["values"] == before["values"]
    assert after["checkpoint"] == before["checkpoint"]
    thread_now = await sdk.threads.get(tid)
    assert thread_now["status"] == "idle" and thread_now["values"] == before["values"]

    # multitask_strategy=rollback: the running run is undone, the new one starts from before it.
    doomed = await sdk.runs.create(tid, "slow", input={"seconds": 30})
    await _until_running(sdk, tid, doomed["run_id"])
    result = await sdk.runs.wait(tid, "slow", input={"seconds": 0}, multitask_strategy="rollback")
    assert result == {"seconds": 0, "steps": ["slow", "after", "slow", "after"]}
    assert [r["status"] for r in await sdk.runs.list(tid)] == ["success", "success"]


async def test_a_run_cancelled_as_it_starts_runs_no_node_after_the_cancel(
    api: str, client: Client
) -> None:
    """A cancel sent right after the run is made reaches the workflow while its quick
    first node ends: the node's result arrives with the cancel (Temporal's SDK then
    gives the result, not the cancel). No later node may start: the run stops there, as
    a run cancelled mid-node does, and the thread is free for the next run."""
    sdk = get_client(url=api)
    for action in ("interrupt", "rollback"):
        tid = (await sdk.threads.create())["thread_id"]
        run = await sdk.runs.create(tid, "quick_then_slow", input={"seconds": 1})
        await sdk.runs.cancel(tid, run["run_id"], action=action)
        await sdk.runs.join(tid, run["run_id"])
        # The run's end is recorded as the cancel is handled; its workflow closes then
        # too, unless (the defect) it goes on to run the graph's other nodes.
        handle = client.get_workflow_handle(run["run_id"])
        await handle.result()
        history = await handle.fetch_history()
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        # "slow" may be scheduled when the cancel comes after "first" ended, and is then
        # cancelled; "after" never is.
        assert "quick_then_slow.after" not in scheduled, (action, scheduled)
        state = await sdk.threads.get_state(tid)
        assert state["values"].get("steps", []) in ([], ["first"]), (action, state["values"])
        if action == "rollback":
            assert state["values"] == {}
        else:
            assert (await sdk.runs.get(tid, run["run_id"]))["status"] == "interrupted"
        after = await sdk.runs.wait(tid, "slow", input={"seconds": 0})
        assert after["steps"][-2:] == ["slow", "after"]


async def test_webhook_is_posted_when_the_run_ends(api: str) -> None:
    async with webhook_receiver() as (url, received):
        sdk = get_client(url=api)
        thread = await sdk.threads.create()
        tid = thread["thread_id"]
        async with httpx.AsyncClient(base_url=api) as http:
            refused = await http.post(
                f"/threads/{tid}/runs",
                json={"assistant_id": "chain3", "webhook": "/relative/hook"},
            )
            assert refused.status_code == 422 and "absolute" in refused.json()["detail"]
        assert await sdk.runs.list(tid) == []
        run = await sdk.runs.create(tid, "chain3", input={"steps": []}, webhook=url)
        await sdk.runs.join(tid, run["run_id"])
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.05)
        [posted] = received
        assert posted["run_id"] == run["run_id"] and posted["thread_id"] == tid
        assert posted["status"] == "success"
        assert posted["values"] == {"steps": ["a", "b", "c"]}
        assert posted["kwargs"]["webhook"] == url


async def test_a_stateless_runs_webhook_arrives_though_its_thread_goes(api: str) -> None:
    """``POST /runs/wait`` and ``/runs/stream`` delete their temporary thread when the run
    ends (``on_completion`` defaults to ``delete``): its webhook is still delivered, every
    time (the thread's erasure let the run's workflow close and start the delivery, and
    leaves the delivery under way to finish)."""
    async with webhook_receiver() as (url, received):
        sdk = get_client(url=api)
        waited = [
            await sdk.runs.wait(None, "chain3", input={"steps": [str(i)]}, webhook=url)
            for i in range(4)
        ]
        async for _ in sdk.runs.stream(None, "chain3", input={"steps": ["s"]}, webhook=url):
            pass
        for _ in range(400):
            if len(received) >= 5:
                break
            await asyncio.sleep(0.05)
    assert [w["steps"] for w in waited] == [[str(i), "a", "b", "c"] for i in range(4)]
    assert sorted(p["values"]["steps"][0] for p in received) == ["0", "1", "2", "3", "s"]
    assert {p["status"] for p in received} == {"success"}


async def test_copy_a_thread_then_let_the_two_diverge(api: str) -> None:
    sdk = get_client(url=api)
    original = await sdk.threads.create(metadata={"owner": "ann"})
    tid = original["thread_id"]
    await sdk.runs.wait(tid, "chain3", input={"steps": ["x"]})
    copy = await sdk.threads.copy(tid)
    cid = copy["thread_id"]
    assert cid != tid and copy["metadata"]["owner"] == "ann"
    assert copy["values"] == {"steps": ["x", "a", "b", "c"]} and copy["status"] == "idle"
    assert (await sdk.threads.get_state(cid))["values"] == (await sdk.threads.get_state(tid))[
        "values"
    ]
    history = [h["checkpoint"]["checkpoint_id"] for h in await sdk.threads.get_history(tid)]
    assert [h["checkpoint"]["checkpoint_id"] for h in await sdk.threads.get_history(cid)] == history
    assert await sdk.runs.wait(cid, "chain3", input={"steps": ["y"]}) == {
        "steps": ["x", "a", "b", "c", "y", "a", "b", "c"]
    }
    assert (await sdk.threads.get_state(tid))["values"] == {"steps": ["x", "a", "b", "c"]}
    assert await sdk.runs.list(cid) != [] and len(await sdk.runs.list(tid)) == 1


async def test_subgraph_events_carry_their_namespace_as_langgraph_streams_them(api: str) -> None:
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    names = [
        (p.event, p.data)
        async for p in sdk.runs.stream(
            thread["thread_id"],
            "feat_subgraph",
            input={"text": "hi"},
            stream_mode="updates",
            stream_subgraphs=True,
        )
    ]
    local = [
        ("updates" + "".join(f"|{part}" for part in namespace), chunk)
        async for namespace, chunk in load_test_graph(
            "feat_subgraph", "feat_subgraph.py:graph"
        ).original.astream({"text": "hi"}, stream_mode="updates", subgraphs=True)
    ]
    ours = [(e, d) for e, d in names if e != "metadata"]
    # Same events, same namespaces (task ids differ between the two runs).
    assert [(e.split(":")[0], d) for e, d in ours] == [(e.split(":")[0], d) for e, d in local]
    assert any(e.startswith("updates|sub:") for e, _ in ours)


async def test_bodies_that_are_not_strict_json_get_a_422_and_store_nothing(api: str) -> None:
    """NaN/Infinity and lone surrogates (which Python's json takes) are refused as
    LangGraph Server refuses them; an escaped surrogate *pair* is an emoji and is kept."""
    sdk = get_client(url=api)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "chat", input={"messages": [{"role": "user", "content": "hi"}]})
    before = await sdk.threads.get_state(tid)
    namespace = f"strict-{uuid.uuid4().hex}"
    headers = {"content-type": "application/json"}
    bodies = {
        f"/threads/{tid}/runs/wait": b'{"assistant_id": "chat", "config": {"tags": [NaN]}}',
        f"/threads/{tid}/state": b'{"values": {"messages": [{"role": "user", "content": "\\ud800"'
        b"}]}}",
        "/store/items": b'{"namespace": ["NS"], "key": "k", "value": {"v": "a\\udfff"}}'.replace(
            b"NS", namespace.encode()
        ),
        "/threads": b'{"metadata": {"n": Infinity}}',
    }
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        for path, body in bodies.items():
            method = "PUT" if path == "/store/items" else "POST"
            answer = await http.request(method, path, content=body, headers=headers)
            assert answer.status_code == 422, (path, answer.text)
            detail = answer.json()["detail"]
            assert "surrogate" in detail or "is not JSON" in detail, detail
        emoji = b'{"namespace": ["NS"], "key": "e", "value": {"v": "\\ud83d\\ude00"}}'
        emoji = emoji.replace(b"NS", namespace.encode())
        assert (await http.put("/store/items", content=emoji, headers=headers)).is_success
    assert (await sdk.store.get_item([namespace], "e"))["value"] == {"v": "\U0001f600"}
    assert await sdk.store.get_item([namespace], "k") is None
    assert [r["status"] for r in await sdk.runs.list(tid)] == ["success"]
    assert (await sdk.threads.get_state(tid))["checkpoint"] == before["checkpoint"]


async def _status_when_done(sdk: Any, thread_id: str, run_id: str) -> str:
    for _ in range(600):
        run = await sdk.runs.get(thread_id, run_id)
        if run["status"] not in ("pending", "running"):
            return str(run["status"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} still {run['status']}")


@pytest.mark.parametrize("route", ["wait", "stream", "join", "join_stream"])
async def test_a_client_that_leaves_cancels_its_run_when_it_asked_to(api: str, route: str) -> None:
    """``on_disconnect="cancel"`` (wait, stream) and ``cancel_on_disconnect=true`` (join,
    join_stream), as LangGraph Server has them: the run ends ``interrupted`` when the
    client goes before it ends; the same run with the default goes on to ``success``."""
    sdk = get_client(url=api)
    statuses = []
    for cancel in (True, False):
        tid = (await sdk.threads.create())["thread_id"]
        body: dict[str, Any] = {"assistant_id": "slow", "input": {"seconds": 3}}
        async with httpx.AsyncClient(base_url=api, timeout=60) as http:
            if route in ("wait", "stream"):
                if cancel:
                    body["on_disconnect"] = "cancel"
                request = http.build_request("POST", f"/threads/{tid}/runs/{route}", json=body)
            else:
                run = await sdk.runs.create(tid, "slow", input={"seconds": 3})
                path = f"/threads/{tid}/runs/{run['run_id']}/{route.replace('join_', '')}"
                params = {"cancel_on_disconnect": "true"} if cancel else {}
                request = http.build_request("GET", path, params=params)
            answer = await http.send(request, stream=True)
            assert answer.status_code == 200
            run_id = answer.headers["Content-Location"].rsplit("/", 1)[1]
            await asyncio.sleep(0.5)
            await answer.aclose()  # the client leaves mid-run
        statuses.append(await _status_when_done(sdk, tid, run_id))
    assert statuses == ["interrupted", "success"]


async def test_a_stateless_run_deleted_on_completion_goes_with_a_client_that_leaves(
    api: str,
) -> None:
    """``/runs/wait`` with ``on_completion="delete"`` and ``on_disconnect="cancel"``: the
    client leaving stops the run and erases its temporary thread."""
    sdk = get_client(url=api)
    body = {
        "assistant_id": "slow",
        "input": {"seconds": 30},
        "on_completion": "delete",
        "on_disconnect": "cancel",
    }
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        answer = await http.send(http.build_request("POST", "/runs/wait", json=body), stream=True)
        _, _, thread_id, _, _ = answer.headers["Content-Location"].split("/")
        await asyncio.sleep(0.5)
        await answer.aclose()
    for _ in range(600):
        try:
            await sdk.threads.get(thread_id)
        except NotFoundError:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the stateless run's thread is still there")


async def test_a_refused_run_leaves_no_thread_it_would_have_made(api: str) -> None:
    """A stateless run, or one with ``if_not_exists="create"``, refused for a checkpoint
    it cannot start from stores nothing; a repeated stateless request (the same
    Idempotency-Key) returns the first run and leaves no second thread."""
    sdk = get_client(url=api)

    async def count() -> int:
        async with httpx.AsyncClient(base_url=api, timeout=60) as http:
            return int((await http.post("/threads/count", json={})).json())

    before = await count()
    fork = {"assistant_id": "chain3", "input": {"steps": []}, "checkpoint_id": str(uuid.uuid4())}
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        stateless = await http.post("/runs/wait", json=fork)
        assert stateless.status_code == 404
        assert "stateless run has no checkpoint" in stateless.json()["detail"]
        new_id = str(uuid.uuid4())
        created = await http.post(
            f"/threads/{new_id}/runs/wait", json={**fork, "if_not_exists": "create"}
        )
        assert created.status_code == 404 and "has no checkpoint" in created.json()["detail"]
        assert (await http.get(f"/threads/{new_id}")).status_code == 404
        assert await count() == before
        key = {"Idempotency-Key": f"stateless-{uuid.uuid4()}"}
        body = {"assistant_id": "chain3", "input": {"steps": []}}
        first = await http.post("/runs", json=body, headers=key)
        again = await http.post("/runs", json=body, headers=key)
        assert first.json()["run_id"] == again.json()["run_id"]
    assert await count() == before + 1
    await sdk.runs.join(first.json()["thread_id"], first.json()["run_id"])


@pytest.mark.parametrize(
    "options",
    [{}, {"durability": "sync"}, {"durability": "exit"}, {"checkpoint_during": False}],
    ids=["default", "sync", "exit", "checkpoint_during_false"],
)
async def test_durability_keeps_the_checkpoints_langgraph_keeps(
    api: str, options: dict[str, Any]
) -> None:
    """``durability="exit"`` (or the older ``checkpoint_during=false``) keeps only a run's
    last checkpoint, as in-process LangGraph does; the others keep every step's."""
    from langgraph.checkpoint.memory import InMemorySaver

    from tests.graphs.api_graphs import chain3

    local = chain3.copy(update={"checkpointer": InMemorySaver()})
    config: Any = {"configurable": {"thread_id": "t"}}
    durability = "exit" if options.get("checkpoint_during") is False else options.get("durability")
    extra = {"durability": durability} if durability else {}
    for _ in range(2):
        await local.ainvoke({"steps": []}, config, **extra)
    expected = [(s.metadata["step"], s.values) async for s in local.aget_state_history(config)]
    sdk = get_client(url=api)
    tid = (await sdk.threads.create())["thread_id"]
    for _ in range(2):
        result = await sdk.runs.wait(tid, "chain3", input={"steps": []}, **options)
    assert result == expected[0][1]
    history = await sdk.threads.get_history(tid, limit=100)
    assert [(s["metadata"]["step"], s["values"]) for s in history] == expected


@pytest.mark.parametrize("subgraphs", [False, True])
async def test_messages_show_what_a_subgraph_node_returns_as_in_process(
    api: str, subgraphs: bool
) -> None:
    """A compiled subgraph added as a node (an agent under a supervisor): without
    ``subgraphs`` its answer shows when it ends, at the parent's level; with them, as
    its inner node streams it. The same messages, nodes and namespaces as in process."""
    from langgraph.checkpoint.memory import InMemorySaver

    from tests.graphs.api_graphs import chat_with_agent

    question = {"messages": [{"role": "user", "content": "hi", "id": "q"}]}
    local = chat_with_agent.copy(update={"checkpointer": InMemorySaver()})
    config: Any = {"configurable": {"thread_id": "t"}}
    expected = []
    if subgraphs:
        async for namespace, (message, meta) in local.astream(
            question, config, stream_mode="messages", subgraphs=True
        ):
            expected.append((len(namespace), meta["langgraph_node"], message.content))
    else:
        async for message, meta in local.astream(question, config, stream_mode="messages"):
            expected.append((0, meta["langgraph_node"], message.content))
    sdk = get_client(url=api)
    tid = (await sdk.threads.create())["thread_id"]
    got = []
    async for part in sdk.runs.stream(
        tid,
        "chat_with_agent",
        input=question,
        stream_mode="messages-tuple",
        stream_subgraphs=subgraphs,
    ):
        if part.event.startswith("messages"):
            depth = len(part.event.split("|")) - 1
            got.append((depth, part.data[1]["langgraph_node"], part.data[0]["content"]))
    # Tokens arrive one per chunk: compare the text each node showed, in order.
    assert _joined(got) == _joined(expected)
    assert ("agent" in {node for _, node, _ in got}) is not subgraphs


def _joined(parts: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    joined: list[tuple[int, str, str]] = []
    for depth, node, text in parts:
        if joined and joined[-1][:2] == (depth, node):
            joined[-1] = (depth, node, joined[-1][2] + text)
        else:
            joined.append((depth, node, text))
    return joined


async def test_whole_messages_mode_shows_a_subgraph_nodes_answer(api: str) -> None:
    """``stream_mode="messages"`` (whole messages so far, as the JS SDK's UIs read them)
    shows the agent's answer too, complete."""
    sdk = get_client(url=api)
    tid = (await sdk.threads.create())["thread_id"]
    question = {"messages": [{"role": "user", "content": "hi", "id": "q"}]}
    shown: dict[str, str] = {}
    async for part in sdk.runs.stream(
        tid, "chat_with_agent", input=question, stream_mode="messages"
    ):
        if part.event in ("messages/partial", "messages/complete"):
            for message in part.data:
                shown[message["id"]] = message["content"]
    assert sorted(shown.values()) == ["inner model says hi", "outer says yo"]
