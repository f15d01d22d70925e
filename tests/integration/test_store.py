"""PostgresStore against a real Postgres, with LangGraph's InMemoryStore as the oracle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from tempograph.database import migrate, open_pool
from tempograph.store import PostgresStore
from tests.graphs.store_graphs import DIMS, HashEmbedding


@pytest.fixture(scope="module")
async def pool(postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await open_pool(postgres_url)
    await migrate(pool)
    yield pool
    await pool.close()


async def fresh(pool: asyncpg.Pool, **kwargs: Any) -> PostgresStore:
    # Other modules may have set the vectors table up with another dimension.
    await pool.execute("DROP TABLE IF EXISTS store_vectors")
    await pool.execute("TRUNCATE store_items")
    store = PostgresStore(pool, **kwargs)
    await store.setup()
    return store


def index_config() -> dict[str, Any]:
    return {"dims": DIMS, "embed": HashEmbedding(), "fields": ["text"]}


def comparable(result: Any) -> Any:
    """A result without timestamps; search pages as sets when order is unspecified."""
    if result is None:
        return None
    if isinstance(result, list) and result and isinstance(result[0], tuple):
        return result
    if isinstance(result, list):
        return sorted((r.namespace, r.key, json.dumps(r.value, sort_keys=True)) for r in result)
    return (result.namespace, result.key, result.value)


async def run_both(store: PostgresStore, oracle: InMemoryStore, ops: list[Op]) -> None:
    for op in ops:
        if isinstance(op, ListNamespacesOp):
            # InMemoryStore lists namespaces whose items were all deleted; we do not.
            for ns in [ns for ns, items in oracle._data.items() if not items]:
                del oracle._data[ns]
        [expected] = await oracle.abatch([op])
        [actual] = await store.abatch([op])
        if isinstance(op, SearchOp) and (op.offset or op.limit < 100):
            # Pages depend on ordering, which differs by design (see PostgresStore): same
            # size, drawn from the same matches.
            assert isinstance(actual, list) and isinstance(expected, list), op
            assert len(actual) == len(expected), op
            [everything] = await oracle.abatch([op._replace(limit=1000, offset=0)])
            assert set(comparable(actual)) <= set(comparable(everything)), op
        else:
            assert comparable(actual) == comparable(expected), op


labels = st.sampled_from(["a", "b", "c"])
namespaces = st.lists(labels, min_size=1, max_size=3).map(tuple)
keys = st.sampled_from(["k1", "k2", "k3"])
values = st.fixed_dictionaries(
    {"n": st.integers(0, 5), "s": st.sampled_from(["x", "y"])},
    optional={"tags": st.lists(st.sampled_from(["p", "q"]), max_size=2)},
)
filters = st.one_of(
    st.none(),
    st.fixed_dictionaries({"s": st.sampled_from(["x", "y"])}),
    st.builds(
        lambda op, n: {"n": {op: n}},
        st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]),
        st.integers(0, 5),
    ),
    st.fixed_dictionaries({"tags": st.lists(st.sampled_from(["p", "q"]), max_size=2)}),
    st.fixed_dictionaries({"tags": st.none()}),
    st.builds(
        lambda op, s: {"s": {op: s}, "n": {"$gte": 1, "$lt": 4}},
        st.sampled_from(["$eq", "$ne"]),
        st.sampled_from(["x", "y", None]),
    ),
)
operations = st.one_of(
    st.builds(lambda ns, k, v: PutOp(ns, k, v), namespaces, keys, values),
    st.builds(lambda ns, k: PutOp(ns, k, None), namespaces, keys),
    st.builds(lambda ns, k: GetOp(ns, k), namespaces, keys),
    st.builds(
        lambda prefix, flt, limit, offset: SearchOp(prefix, flt, limit, offset),
        st.lists(labels, max_size=2).map(tuple),
        filters,
        st.sampled_from([1, 2, 100]),
        st.sampled_from([0, 1]),
    ),
    st.builds(
        lambda kind, path, depth: ListNamespacesOp(
            match_conditions=(MatchCondition(kind, path),) if path else None, max_depth=depth
        ),
        st.sampled_from(["prefix", "suffix"]),
        st.lists(st.sampled_from(["a", "b", "*"]), max_size=2).map(tuple),
        st.sampled_from([None, 1, 2]),
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(operations, min_size=1, max_size=25))
async def test_conforms_to_in_memory_store(pool: asyncpg.Pool, ops: list[Op]) -> None:
    await run_both(await fresh(pool), InMemoryStore(), ops)


async def test_crud_search_and_namespaces(pool: asyncpg.Pool) -> None:
    store = await fresh(pool)
    await store.aput(("users", "u1", "prefs"), "theme", {"color": "dark", "size": 3})
    await store.aput(("users", "u2", "prefs"), "theme", {"color": "light", "size": 5})
    await store.aput(("docs",), "d1", {"color": "dark"})
    item = await store.aget(("users", "u1", "prefs"), "theme")
    assert item is not None and item.value == {"color": "dark", "size": 3}
    found = await store.asearch(("users",), filter={"size": {"$gte": 4}})
    assert [(r.namespace, r.key) for r in found] == [(("users", "u2", "prefs"), "theme")]
    assert await store.alist_namespaces(prefix=("users",), max_depth=2) == [
        ("users", "u1"),
        ("users", "u2"),
    ]
    assert await store.alist_namespaces(suffix=("prefs",)) == [
        ("users", "u1", "prefs"),
        ("users", "u2", "prefs"),
    ]
    await store.aput(("users", "u1", "prefs"), "theme", {"color": "blue"})  # upsert
    assert (await store.aget(("users", "u1", "prefs"), "theme")).value == {"color": "blue"}  # type: ignore[union-attr]
    assert await pool.fetchval("SELECT count(*) FROM store_items") == 3
    await store.adelete(("docs",), "d1")
    assert await store.aget(("docs",), "d1") is None
    # Newest first without a query.
    assert (await store.asearch(()))[0].key == "theme"


async def test_batch_reads_in_one_round_trip_see_state_before_puts(pool: asyncpg.Pool) -> None:
    store = await fresh(pool)
    await store.aput(("a",), "x", {"v": 1})
    results = await store.abatch(
        [GetOp(("a",), "x"), GetOp(("a",), "missing"), PutOp(("a",), "x", {"v": 2})]
    )
    assert isinstance(results[0], Item) and results[0].value == {"v": 1}
    assert results[1] is None and results[2] is None
    assert (await store.aget(("a",), "x")).value == {"v": 2}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("namespace", "key", "value"),
    [
        ((), "k", {"a": 1}),
        (("a.b",), "k", {"a": 1}),
        (("a", ""), "k", {"a": 1}),
        (("langgraph",), "k", {"a": 1}),
        (("a",), 5, {"a": 1}),
        (("a",), "k", {"a": object()}),
    ],
)
async def test_bad_input_is_rejected_and_nothing_stored(
    pool: asyncpg.Pool, namespace: tuple[str, ...], key: Any, value: dict[str, Any]
) -> None:
    store = await fresh(pool)
    with pytest.raises(ValueError):
        await store.abatch([PutOp(("ok",), "k", {"a": 1}), PutOp(namespace, key, value)])
    assert await pool.fetchval("SELECT count(*) FROM store_items") == 0


async def test_invalid_namespace_error_type(pool: asyncpg.Pool) -> None:
    store = await fresh(pool)
    with pytest.raises(InvalidNamespaceError, match="periods"):
        await store.asearch(("a.b",))


async def test_vector_search_ranks_like_in_memory_store(pool: asyncpg.Pool) -> None:
    store = await fresh(pool, index=index_config())
    oracle = InMemoryStore(index=index_config())  # type: ignore[arg-type]
    texts = ["python tutorial", "typescript guide", "cooking pasta", "python snakes", "go"]
    for i, text in enumerate(texts):
        ns = ("docs", "even" if i % 2 == 0 else "odd")
        for target in (store, oracle):
            await target.aput(ns, f"d{i}", {"text": text, "i": i})
            await target.aput(ns, f"multi{i}", {"text": [text, "extra"], "i": i})
    await store.aput(("docs", "odd"), "plain", {"text": "no vector", "i": 1}, index=False)
    await oracle.aput(("docs", "odd"), "plain", {"text": "no vector", "i": 1}, index=False)
    for query, prefix, flt in [
        ("python", ("docs",), None),
        ("pasta", ("docs", "even"), None),
        ("guide", ("docs",), {"i": {"$lt": 3}}),
    ]:
        for limit, offset in [(3, 0), (3, 2), (50, 0)]:
            actual = await store.asearch(
                prefix, query=query, filter=flt, limit=limit, offset=offset
            )
            expected = await oracle.asearch(
                prefix, query=query, filter=flt, limit=limit, offset=offset
            )
            assert [(r.namespace, r.key) for r in actual] == [
                (r.namespace, r.key) for r in expected
            ]
            for a, e in zip(actual, expected, strict=True):
                if e.score is None:
                    assert a.score is None
                else:
                    assert a.score == pytest.approx(e.score, abs=1e-5)
    # A re-put replaces the vectors; an index override embeds other fields.
    await store.aput(("docs", "even"), "d0", {"text": "cooking pasta", "title": "python"})
    best = await store.asearch(("docs",), query="cooking pasta", limit=1)
    assert {best[0].key} <= {"d0", "d2"}
    assert best[0].score == pytest.approx(1.0, abs=1e-5)
    await store.aput(("t",), "o", {"text": "zzz", "title": "python tutorial"}, index=["title"])
    top = await store.asearch(("t",), query="python tutorial", limit=1)
    assert top[0].score == pytest.approx(1.0, abs=1e-5)


async def test_ttl_expiry_refresh_and_sweep(pool: asyncpg.Pool) -> None:
    store = await fresh(pool, ttl={"default_ttl": 60, "refresh_on_read": True})
    await store.aput(("t",), "old", {"v": 1})
    await store.aput(("t",), "forever", {"v": 2}, ttl=None)
    await store.aput(("t",), "fresh", {"v": 3})
    await pool.execute(
        "UPDATE store_items SET expires_at = now() - interval '1 second' WHERE key = 'old'"
    )
    assert await store.aget(("t",), "old") is None
    assert {r.key for r in await store.asearch(("t",))} == {"forever", "fresh"}
    assert await store.alist_namespaces() == [("t",)]
    # Refresh on read pushes expiry forward; refresh_ttl=False leaves it.
    await pool.execute(
        "UPDATE store_items SET expires_at = now() + interval '1 minute' WHERE key = 'fresh'"
    )
    await store.aget(("t",), "fresh", refresh_ttl=False)
    soon = "SELECT expires_at < now() + interval '2 minutes' FROM store_items WHERE key = 'fresh'"
    assert await pool.fetchval(soon)
    await store.aget(("t",), "fresh")
    assert not await pool.fetchval(soon)
    await pool.execute(
        "UPDATE store_items SET expires_at = now() + interval '1 minute' WHERE key = 'fresh'"
    )
    await store.asearch(("t",))
    assert not await pool.fetchval(soon)
    assert await store.sweep() == 1
    assert await pool.fetchval("SELECT count(*) FROM store_items") == 2


async def test_background_sweeper_deletes_expired_items(pool: asyncpg.Pool) -> None:
    store = await fresh(pool, ttl={"sweep_interval_minutes": 1})
    await store.aput(("t",), "gone", {"v": 1}, ttl=0.0001)
    store.start_sweeper(interval_seconds=0.01)
    try:
        async with asyncio.timeout(30):
            while await pool.fetchval("SELECT count(*) FROM store_items"):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        await store.stop_sweeper()


async def test_sync_batch_from_a_worker_thread(pool: asyncpg.Pool) -> None:
    store = await fresh(pool)

    def sync_node() -> Any:
        store.put(("sync",), "k", {"v": 1})
        item = store.get(("sync",), "k")
        return item.value if item else None, store.list_namespaces()

    assert await asyncio.to_thread(sync_node) == ({"v": 1}, [("sync",)])
    with pytest.raises(RuntimeError, match="async methods"):
        store.get(("sync",), "k")
