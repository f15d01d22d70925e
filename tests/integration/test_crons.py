"""Crons through the official SDK (``client.crons``), each a Temporal Schedule: create
(on a new thread per run, or bound to a thread), search, count, update, delete; ticks
that really fire (a seconds schedule) and ticks an operator triggers, as the Temporal UI
or ``temporal schedule trigger`` does; ``on_run_completed``; disabled crons; bad input."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError
from temporalio.client import Client, ScheduleOverlapPolicy
from temporalio.service import RPCError

from tempograph.api.auth import CustomAuth, load_auth
from tempograph.temporal.devserver import DevServer, temporal_binary
from tempograph.workflows.crons import CronFired
from tests.conftest import TEST_GRAPHS, load_test_graph
from tests.integration.api_server import api_stack

STEPS = ["a", "b", "c"]


@pytest.fixture(scope="module")
async def api(
    dev_server: DevServer, client: Client, postgres_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    graphs = {"chain3": load_test_graph("chain3", "api_graphs.py:chain3")}
    async with api_stack(dev_server, client, postgres_url, graphs) as http:
        yield http


@pytest.fixture
def sdk(api: httpx.AsyncClient) -> LangGraphClient:
    return get_client(url=str(api.base_url))


def temporal_cli(dev_server: DevServer, *args: str) -> Any:
    done = subprocess.run(
        [str(temporal_binary()), *args, "--address", dev_server.address, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout) if done.stdout.strip() else None


async def fired(client: Client, cron_id: str, count: int = 1) -> list[CronFired | None]:
    """Wait for the cron's newest ``count`` fires (started by its Schedule) to end."""
    handle = client.get_schedule_handle(f"cron-{cron_id}")
    for _ in range(300):
        actions = (await handle.describe()).info.recent_actions
        if len(actions) >= count:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"cron {cron_id} never fired {count} time(s)")
    results = []
    for action in actions[-count:]:
        started = action.action
        run = client.get_workflow_handle(started.workflow_id, run_id=started.first_execution_run_id)
        results.append(await run.result())
        LAST_TICK[cron_id] = f"{started.workflow_id}-{started.first_execution_run_id}"
    return results


async def trigger(client: Client, cron_id: str) -> CronFired | None:
    handle = client.get_schedule_handle(f"cron-{cron_id}")
    before = len((await handle.describe()).info.recent_actions)
    await handle.trigger()
    return (await fired(client, cron_id, before + 1))[-1]


# The newest fire of each cron: its workflow and run id, as its cleanup child is named.
LAST_TICK: dict[str, str] = {}


async def schedules(client: Client) -> set[str]:
    return {s.id async for s in await client.list_schedules() if s.id.startswith("cron-")}


async def gone(sdk: LangGraphClient, thread_id: str) -> bool:
    for _ in range(300):
        try:
            await sdk.threads.get(thread_id)
        except NotFoundError:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_cron_on_new_threads_is_a_schedule_and_erases_each_thread(
    sdk: LangGraphClient, client: Client, dev_server: DevServer
) -> None:
    job = str(uuid.uuid4())
    cron = await sdk.crons.create(
        "chain3",
        schedule="*/5 * * * *",
        timezone="Europe/Paris",
        input={"steps": ["start"]},
        metadata={"job": job},
    )
    assert cron["thread_id"] is None
    assert cron["schedule"] == "*/5 * * * *"
    assert cron["timezone"] == "Europe/Paris"
    assert cron["on_run_completed"] == "delete"
    assert cron["enabled"] is True and cron["end_time"] is None
    assert cron["metadata"] == {"job": job}
    assert cron["payload"]["input"] == {"steps": ["start"]}
    assert datetime.fromisoformat(cron["next_run_date"]) > datetime.now(UTC)

    # What the Temporal UI's Schedules page and `temporal schedule describe` show.
    described = temporal_cli(
        dev_server, "schedule", "describe", "--schedule-id", f"cron-{cron['cron_id']}"
    )
    assert "CronWorkflow" in json.dumps(described)
    schedule = (await client.get_schedule_handle(f"cron-{cron['cron_id']}").describe()).schedule
    assert schedule.spec.time_zone_name == "Europe/Paris"
    assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert not schedule.state.paused

    # A tick (pressed in the UI here): a run on a new thread, then the thread is erased.
    tick = await trigger(client, cron["cron_id"])
    assert tick is not None and tick.drop_thread
    cleanup = client.get_workflow_handle(f"{LAST_TICK[cron['cron_id']]}-cleanup")
    await cleanup.result()  # it saw the run end, then erased the thread
    assert await gone(sdk, tick.thread_id)
    assert await sdk.crons.count(metadata={"job": job}) == 1  # the cron stays

    kept = await sdk.crons.create(
        "chain3", schedule="0 0 1 1 *", input={"steps": []}, on_run_completed="keep"
    )
    tick = await trigger(client, kept["cron_id"])
    assert tick is not None and not tick.drop_thread
    run = await sdk.runs.join(tick.thread_id, tick.run_id)
    assert run["steps"] == STEPS
    thread = await sdk.threads.get(tick.thread_id)
    assert thread["metadata"]["graph_id"] == "chain3"
    (stored,) = await sdk.runs.list(tick.thread_id)
    assert stored["kwargs"]["config"]["configurable"]["cron_id"] == kept["cron_id"]
    for made in (cron, kept):
        await sdk.crons.delete(made["cron_id"])


async def test_a_seconds_schedule_fires_by_itself(sdk: LangGraphClient, client: Client) -> None:
    """Six fields: the sixth is seconds, as in LangGraph (croniter)."""
    job = str(uuid.uuid4())
    cron = await sdk.crons.create(
        "chain3",
        schedule="* * * * * */2",
        input={"steps": []},
        metadata={"job": job},
        on_run_completed="keep",
    )
    ticks = await fired(client, cron["cron_id"], 2)
    await sdk.crons.delete(cron["cron_id"])
    for tick in ticks:
        assert tick is not None
        assert (await sdk.runs.join(tick.thread_id, tick.run_id))["steps"] == STEPS
        assert (await sdk.threads.get(tick.thread_id))["metadata"]["job"] == job
    assert len({t.thread_id for t in ticks if t is not None}) == 2  # a new thread each
    with pytest.raises(RPCError):
        await client.get_schedule_handle(f"cron-{cron['cron_id']}").describe()


async def test_a_thread_cron_runs_on_its_thread(sdk: LangGraphClient, client: Client) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    cron = await sdk.crons.create_for_thread(
        tid, "chain3", schedule="0 9 * * 1-5", input={"steps": ["x"]}
    )
    assert cron["thread_id"] == tid and cron["on_run_completed"] is None
    first = await trigger(client, cron["cron_id"])
    second = await trigger(client, cron["cron_id"])
    assert first is not None and second is not None
    assert first.thread_id == second.thread_id == tid and not first.drop_thread
    await sdk.runs.join(tid, second.run_id)
    runs = await sdk.runs.list(tid)
    assert sorted(r["run_id"] for r in runs) == sorted([first.run_id, second.run_id])
    state = await sdk.threads.get_state(tid)
    assert state["values"]["steps"] == ["x", *STEPS, "x", *STEPS]

    # Erasing the thread erases its crons, and their Schedules.
    await sdk.threads.delete(tid)
    assert await sdk.crons.count(thread_id=tid) == 0
    with pytest.raises(RPCError):
        await client.get_schedule_handle(f"cron-{cron['cron_id']}").describe()


async def test_search_count_update_and_disable(sdk: LangGraphClient, client: Client) -> None:
    job = str(uuid.uuid4())
    thread = await sdk.threads.create()
    # Yearly, on days 30, 10 and 20 days from now: their order of next runs is known.
    days = [datetime.now(UTC) + timedelta(days=d) for d in (30, 10, 20, 40)]
    yearly = [f"0 12 {d.day} {d.month} *" for d in days]
    made = [
        await sdk.crons.create("chain3", schedule=s, metadata={"job": job, "n": n})
        for n, s in enumerate(yearly[:3])
    ]
    bound = await sdk.crons.create_for_thread(
        thread["thread_id"], "chain3", schedule=yearly[3], metadata={"job": job}
    )
    assert await sdk.crons.count(metadata={"job": job}) == 4
    assert await sdk.crons.count(thread_id=thread["thread_id"]) == 1
    found = await sdk.crons.search(metadata={"job": job}, sort_by="created_at", sort_order="asc")
    assert [c["cron_id"] for c in found] == [c["cron_id"] for c in [*made, bound]]
    by_next = await sdk.crons.search(
        metadata={"job": job}, sort_by="next_run_date", sort_order="asc", limit=2
    )
    assert [c["schedule"] for c in by_next] == [yearly[1], yearly[2]]
    narrow = await sdk.crons.search(thread_id=thread["thread_id"], select=["cron_id", "schedule"])
    assert narrow == [{"cron_id": bound["cron_id"], "schedule": yearly[3]}]

    target = made[0]["cron_id"]
    end = datetime.now(UTC) + timedelta(days=30)
    changed = await sdk.crons.update(
        target,
        schedule="30 6 * * *",
        end_time=end,
        input={"steps": ["patched"]},
        metadata={"extra": True},
        enabled=False,
    )
    assert changed["schedule"] == "30 6 * * *" and changed["enabled"] is False
    assert changed["next_run_date"] is not None  # as LangGraph shows it while disabled
    assert changed["payload"]["input"] == {"steps": ["patched"]}
    assert changed["metadata"] == {"job": job, "n": 0, "extra": True}
    assert datetime.fromisoformat(changed["end_time"]) == end.replace(microsecond=end.microsecond)
    described = (await client.get_schedule_handle(f"cron-{target}").describe()).schedule
    assert described.state.paused
    assert described.spec.end_at is not None
    assert await sdk.crons.count(metadata={"job": job, "extra": True}) == 1
    disabled = await sdk.crons.search(metadata={"job": job}, enabled=False)
    assert [c["cron_id"] for c in disabled] == [target]

    # Paused, nothing fires by itself; an operator's trigger (the UI's) still makes a run.
    tick = await trigger(client, target)
    assert tick is not None
    assert (await sdk.runs.join(tick.thread_id, tick.run_id))["steps"] == ["patched", *STEPS]

    # A context given later: the runs carry it (and no configurable beside it).
    with_context = await sdk.crons.update(target, context={"tone": "dry"}, on_run_completed="keep")
    assert with_context["payload"]["context"] == {"tone": "dry"}
    assert "configurable" not in with_context["payload"]["config"]
    again = await sdk.crons.update(target, enabled=True, end_time=None)
    assert again["enabled"] is True and again["end_time"] is None
    assert again["next_run_date"] is not None
    tick = await trigger(client, target)
    assert tick is not None
    run = await sdk.runs.join(tick.thread_id, tick.run_id)
    assert run["steps"] == ["patched", *STEPS]
    (stored,) = await sdk.runs.list(tick.thread_id)  # kept: on_run_completed="keep"
    assert stored["kwargs"]["context"] == {"tone": "dry"}
    await sdk.threads.delete(tick.thread_id)
    for cron in [*made, bound]:
        await sdk.crons.delete(cron["cron_id"])
    assert await sdk.crons.count(metadata={"job": job}) == 0


async def test_bad_requests_leave_nothing(
    api: httpx.AsyncClient, sdk: LangGraphClient, client: Client
) -> None:
    job = str(uuid.uuid4())
    bad: list[tuple[str, dict[str, Any], int, str]] = [
        ("/runs/crons", {"assistant_id": "chain3", "schedule": "bogus"}, 422, "5-7 fields"),
        ("/runs/crons", {"assistant_id": "chain3", "schedule": "61 * * * *"}, 422, "Minute"),
        (
            "/runs/crons",
            {"assistant_id": "chain3", "schedule": "* * * * *", "timezone": "Mars/Base"},
            422,
            "time zone",
        ),
        ("/runs/crons", {"assistant_id": "nope", "schedule": "* * * * *"}, 422, "assistant"),
        ("/runs/crons", {"assistant_id": str(uuid.uuid4()), "schedule": "* * * * *"}, 404, ""),
        ("/runs/crons", {"assistant_id": "chain3"}, 422, "schedule"),
        (
            "/runs/crons",
            {"assistant_id": "chain3", "schedule": "* * * * *", "input": {"nope": 1}},
            422,
            "nope",
        ),
        (
            f"/threads/{uuid.uuid4()}/runs/crons",
            {"assistant_id": "chain3", "schedule": "* * * * *"},
            404,
            "not found",
        ),
        ("/threads/x/runs/crons", {"assistant_id": "chain3", "schedule": "* * * * *"}, 422, ""),
    ]
    before = await schedules(client)
    for path, body, status, says in bad:
        answer = await api.post(path, json={**body, "metadata": {"job": job}})
        assert answer.status_code == status, (path, body, answer.text)
        assert says.lower() in answer.json()["detail"].lower() if says else True
    assert await sdk.crons.count(metadata={"job": job}) == 0
    assert await schedules(client) == before  # no Schedule either

    cron = await sdk.crons.create("chain3", schedule="0 5 * * *", metadata={"job": job})
    cid = cron["cron_id"]
    assert (await api.patch(f"/runs/crons/{cid}", json={})).status_code == 400
    refused = await api.patch(f"/runs/crons/{cid}", json={"schedule": "0 25 * * *"})
    assert refused.status_code == 422 and "Hour" in refused.json()["detail"]
    assert (await api.get(f"/runs/crons/{cid}")).json()["schedule"] == "0 5 * * *"
    assert (await api.get("/runs/crons/not-a-uuid")).status_code == 422
    assert (await api.get(f"/runs/crons/{uuid.uuid4()}")).status_code == 404
    assert (await api.delete(f"/runs/crons/{uuid.uuid4()}")).status_code == 404
    await sdk.crons.delete(cid)
    assert (await api.get(f"/runs/crons/{cid}")).status_code == 404
    info = (await api.get("/info")).json()
    assert info["flags"]["crons"] is True


async def test_crons_survive_a_restart_of_every_api(
    dev_server: DevServer, client: Client, postgres_url: str
) -> None:
    """The Schedule is Temporal's: a tick while no API replica serves crons waits for
    one, and is made then, once."""
    graphs = {"chain3": load_test_graph("chain3", "api_graphs.py:chain3")}
    queue = f"crons-{uuid.uuid4()}"
    async with api_stack(dev_server, client, postgres_url, graphs, task_queue=queue) as http:
        sdk = get_client(url=str(http.base_url))
        cron = await sdk.crons.create(
            "chain3", schedule="0 0 1 1 *", input={"steps": []}, on_run_completed="keep"
        )
    handle = client.get_schedule_handle(f"cron-{cron['cron_id']}")
    await handle.trigger()  # nobody serves the crons' queue now
    await asyncio.sleep(1)
    async with api_stack(dev_server, client, postgres_url, graphs, task_queue=queue) as http:
        sdk = get_client(url=str(http.base_url))
        (tick,) = await fired(client, cron["cron_id"])
        assert tick is not None
        assert (await sdk.runs.join(tick.thread_id, tick.run_id))["steps"] == STEPS
        assert len(await sdk.runs.list(tick.thread_id)) == 1
        await sdk.crons.delete(cron["cron_id"])


async def test_a_cron_stops_at_its_end_time(sdk: LangGraphClient, client: Client) -> None:
    end = datetime.now(UTC) + timedelta(seconds=3)
    cron = await sdk.crons.create(
        "chain3",
        schedule="* * * * * *",  # every second
        input={"steps": []},
        end_time=end,
        on_run_completed="keep",
    )
    handle = client.get_schedule_handle(f"cron-{cron['cron_id']}")
    await fired(client, cron["cron_id"], 1)
    await asyncio.sleep((end + timedelta(seconds=2) - datetime.now(UTC)).total_seconds())
    described = await handle.describe()
    last = described.info.recent_actions[-1].scheduled_at
    assert last <= end
    assert described.info.next_action_times == []
    got = await sdk.crons.update(cron["cron_id"], metadata={"seen": True})
    assert got["next_run_date"] is None  # past its end: it will not fire again
    await sdk.crons.delete(cron["cron_id"])


async def test_a_pause_in_the_temporal_ui_is_the_crons(
    sdk: LangGraphClient, client: Client
) -> None:
    """The Schedule decides when: an operator's pause shows as ``enabled: false`` (and in
    a search for disabled crons once read), and a change through the API keeps it."""
    cron = await sdk.crons.create("chain3", schedule="0 0 1 1 *", metadata={"ui": True})
    handle = client.get_schedule_handle(f"cron-{cron['cron_id']}")
    await handle.pause(note="paused by an operator")
    assert (await sdk.crons.update(cron["cron_id"], metadata={"seen": 1}))["enabled"] is False
    paused = await sdk.crons.search(enabled=False, metadata={"ui": True})
    assert [c["cron_id"] for c in paused] == [cron["cron_id"]]
    changed = await sdk.crons.update(cron["cron_id"], schedule="0 0 2 1 *")
    assert changed["enabled"] is False
    described = await handle.describe()
    assert described.schedule.state.paused
    assert described.schedule.state.note == "paused by an operator"
    await handle.unpause()
    assert (await sdk.crons.update(cron["cron_id"], metadata={"seen": 2}))["enabled"] is True
    await sdk.crons.delete(cron["cron_id"])


async def test_a_threads_crons_follow_the_threads_auth(
    dev_server: DevServer, client: Client, postgres_url: str
) -> None:
    """Auth that guards threads only: another user neither finds nor touches the crons
    of a thread they may not read (those on no thread are everyone's, as in LangGraph)."""
    auth = CustomAuth(load_auth({"path": "thread_owner_auth.py:auth"}, TEST_GRAPHS))
    graphs = {"chain3": load_test_graph("chain3", "api_graphs.py:chain3")}
    async with api_stack(dev_server, client, postgres_url, graphs, auth=auth) as http:
        url = str(http.base_url)
        alice = get_client(url=url, headers={"Authorization": "Bearer alice"})
        bob = get_client(url=url, headers={"Authorization": "Bearer bob"})
        tag = {"tag": str(uuid.uuid4())}
        thread = await alice.threads.create()
        bound = await alice.crons.create_for_thread(
            thread["thread_id"], "chain3", schedule="0 0 1 1 *", metadata=tag
        )
        loose = await alice.crons.create("chain3", schedule="0 0 1 1 *", metadata=tag)
        mine = await alice.crons.search(metadata=tag)
        assert {c["cron_id"] for c in mine} == {bound["cron_id"], loose["cron_id"]}
        assert await alice.crons.count(metadata=tag) == 2
        theirs = await bob.crons.search(metadata=tag)
        assert [c["cron_id"] for c in theirs] == [loose["cron_id"]]
        assert await bob.crons.count(metadata=tag) == 1
        assert await bob.crons.search(thread_id=thread["thread_id"]) == []
        as_bob = {"Authorization": "Bearer bob"}
        path = f"/runs/crons/{bound['cron_id']}"
        assert (await http.get(path, headers=as_bob)).status_code == 404
        assert (await http.patch(path, json={"enabled": False}, headers=as_bob)).status_code == 404
        assert (await http.delete(path, headers=as_bob)).status_code == 404
        body = {"assistant_id": "chain3", "schedule": "0 0 1 1 *"}
        on_theirs = await http.post(
            f"/threads/{thread['thread_id']}/runs/crons", json=body, headers=as_bob
        )
        assert on_theirs.status_code == 404
        for cron in (bound, loose):
            await alice.crons.delete(cron["cron_id"])
