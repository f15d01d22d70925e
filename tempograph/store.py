"""Long-term memory: LangGraph's ``BaseStore`` on Postgres, with pgvector search and TTLs.

Items live in ``store_items`` (migration 4), keyed by the namespace joined with "." and
the key. Embeddings live in ``store_vectors``, created by :meth:`PostgresStore.setup`
because its dimension comes from the index config. Behaviour follows LangGraph's
``InMemoryStore`` (the conformance oracle) except where noted on :class:`PostgresStore`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterable
from typing import Any

import asyncpg
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    tokenize_path,
)

from tempograph.crypto import at_rest, seal_json_text, unseal_json
from tempograph.store_embeddings import Key, embed_puts, embed_queries
from tempograph.store_queries import (
    NOT_EXPIRED,
    check_filter,
    dump_value,
    filter_condition,
    item_of,
    join_namespace,
    list_namespaces,
    passes,
    prefix_condition,
    refresh,
    split_prefix,
    validate_op,
    vector_text,
)

logger = logging.getLogger(__name__)

_SETUP_LOCK = 7_412_345_002  # advisory lock key; database.py's migration lock is ..001
_MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
_ITEM_COLUMNS = "s.prefix, s.key, s.value, s.created_at, s.updated_at"


class PostgresStore(BaseStore):
    """A LangGraph ``BaseStore`` on an asyncpg pool.

    Differences from ``InMemoryStore``: searches without ``query`` return the newest
    items first (``updated_at`` descending, as LangGraph Server does) rather than in
    insertion order; namespaces that no longer hold any item are not listed; putting an
    item again replaces all its vectors (``InMemoryStore`` keeps vectors of fields the
    new value lacks). Put is an upsert by ``(namespace, key)``, so repeating a put (a
    retried node) never duplicates an item.

    Args:
        pool: the pool to run on; migrations must have been applied (``migrate``).
        index: LangGraph's ``IndexConfig`` (``dims``, ``embed``, ``fields``) to enable
            ``query`` search.
        ttl: LangGraph's ``TTLConfig`` (``default_ttl`` minutes, ``refresh_on_read``,
            ``sweep_interval_minutes``).
    """

    supports_ttl = True

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> None:
        self._pool = pool
        self.ttl_config = ttl
        self.index_config = index
        self.embeddings: Embeddings | None = None
        self._fields: list[tuple[str, str | list[str]]] = []
        if index is not None:
            dims = index.get("dims")
            if not isinstance(dims, int) or dims <= 0:
                raise ValueError(f"index config needs a positive integer 'dims', got {dims!r}")
            self.embeddings = ensure_embeddings(index.get("embed"))
            self._fields = [
                (path, path if path == "$" else tokenize_path(path))
                for path in (index.get("fields") or ["$"])
            ]
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._sweeper: asyncio.Task[None] | None = None
        self._ready = index is None

    # Setup and TTL sweeping

    async def setup(self) -> None:
        """Create the vectors table and its HNSW index (index config only); idempotent.

        The first batch calls it if you did not.
        """
        self._bind_loop()
        if self.index_config is None:
            return
        dims = self.index_config["dims"]
        async with self._pool.acquire() as conn, conn.transaction():
            # Replicas may set up at once; CREATE ... IF NOT EXISTS alone can still collide.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SETUP_LOCK)
            await conn.execute(
                f"""
                CREATE TABLE IF NOT EXISTS store_vectors (
                    prefix text NOT NULL,
                    key text NOT NULL,
                    field_name text NOT NULL,
                    embedding vector({dims}) NOT NULL,
                    PRIMARY KEY (prefix, key, field_name),
                    FOREIGN KEY (prefix, key) REFERENCES store_items ON DELETE CASCADE
                );
                CREATE INDEX IF NOT EXISTS store_vectors_embedding
                    ON store_vectors USING hnsw (embedding vector_cosine_ops);
                """
            )
            existing = await conn.fetchval(
                "SELECT atttypmod FROM pg_attribute"
                " WHERE attrelid = 'store_vectors'::regclass AND attname = 'embedding'"
            )
        if existing != dims:
            raise ValueError(
                f"store_vectors holds {existing}-dimension vectors but the index config"
                f" says dims={dims}; re-embedding into a new dimension is not supported"
            )
        self._ready = True

    async def sweep(self) -> int:
        """Delete expired items now; returns how many were deleted."""
        result: str = await self._pool.execute(
            "DELETE FROM store_items WHERE expires_at IS NOT NULL AND expires_at <= now()"
        )
        return int(result.split()[-1])

    def start_sweeper(self, *, interval_seconds: float | None = None) -> None:
        """Run :meth:`sweep` periodically in the background on the running loop.

        The interval is ``interval_seconds`` if given, else the TTL config's
        ``sweep_interval_minutes`` (default 5 minutes).
        """
        if self._sweeper is not None and not self._sweeper.done():
            return
        if interval_seconds is None:
            interval_seconds = ((self.ttl_config or {}).get("sweep_interval_minutes") or 5) * 60
        self._bind_loop()
        loop = asyncio.get_running_loop()
        self._sweeper = loop.create_task(self._sweep_forever(interval_seconds))

    async def stop_sweeper(self) -> None:
        """Stop the background sweeper, if running."""
        task, self._sweeper = self._sweeper, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _sweep_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                deleted = await self.sweep()
                logger.info("store TTL sweep", extra={"deleted": deleted})
            except (asyncpg.PostgresError, OSError):
                logger.exception("store TTL sweep failed; retrying at the next interval")

    # Batches

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``abatch`` on the store's event loop from another thread (sync nodes)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError(
                "PostgresStore.batch needs the event loop the store runs on; create the store"
                " (or call setup()) inside that loop first"
            )
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or getattr(loop, "_thread_id", None) == threading.get_ident():
            raise RuntimeError(
                "PostgresStore's sync methods were called on its own event loop's thread, which"
                " would deadlock; use the async methods (aget, aput, asearch, ...) there"
            )
        return asyncio.run_coroutine_threadsafe(self.abatch(list(ops)), loop).result()

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Execute ``ops`` in one transaction; reads see the state before the batch's puts."""
        self._bind_loop()
        ops = list(ops)
        for op in ops:
            validate_op(op)
        if not self._ready:
            await self.setup()
        results: list[Result] = [None] * len(ops)
        puts: dict[Key, PutOp] = {}
        gets: list[tuple[int, GetOp]] = []
        for i, op in enumerate(ops):
            if isinstance(op, PutOp):
                puts[(op.namespace, op.key)] = op  # the last put of a key wins
            elif isinstance(op, GetOp):
                gets.append((i, op))
        values = {k: dump_value(op.value) for k, op in puts.items() if op.value is not None}
        queries = await embed_queries(self.embeddings, ops)
        vectors = await embed_puts(self.embeddings, self._fields, puts)
        async with self._pool.acquire() as conn, conn.transaction():
            if gets:
                await self._get(conn, gets, results)
            for i, op in enumerate(ops):
                if isinstance(op, SearchOp):
                    results[i] = await self._search(conn, op, queries)
                elif isinstance(op, ListNamespacesOp):
                    results[i] = await list_namespaces(conn, op)
            if puts:
                await self._put(conn, puts, values, vectors)
        return results

    def _bind_loop(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()

    # Reads

    async def _get(
        self, conn: asyncpg.Connection, gets: list[tuple[int, GetOp]], results: list[Result]
    ) -> None:
        rows = await conn.fetch(
            f"""
            WITH req AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::bool[]) AS r(prefix, key, refresh)
            ), refreshed AS (
                UPDATE store_items s
                SET expires_at = now() + make_interval(secs => s.ttl_minutes * 60)
                FROM req
                WHERE s.prefix = req.prefix AND s.key = req.key AND req.refresh
                    AND s.ttl_minutes IS NOT NULL AND {NOT_EXPIRED}
            )
            SELECT DISTINCT {_ITEM_COLUMNS} FROM store_items s
            JOIN req ON s.prefix = req.prefix AND s.key = req.key
            WHERE {NOT_EXPIRED}
            """,
            [join_namespace(op.namespace) for _, op in gets],
            [op.key for _, op in gets],
            [op.refresh_ttl for _, op in gets],
        )
        found = {(row["prefix"], row["key"]): item_of(row) for row in rows}
        for i, op in gets:
            results[i] = found.get((join_namespace(op.namespace), op.key))

    async def _search(
        self, conn: asyncpg.Connection, op: SearchOp, queries: dict[str, list[float]]
    ) -> list[SearchItem]:
        params: list[Any] = []
        where = [NOT_EXPIRED, *prefix_condition(op.namespace_prefix, params)]
        sealed_filter = op.filter if op.filter and at_rest() is not None else None
        if sealed_filter is None:
            for key, value in (op.filter or {}).items():
                where.append(filter_condition([key], value, params))
        condition = " AND ".join(where)
        limit, offset = max(op.limit, 0), max(op.offset, 0)
        if sealed_filter is not None:
            # Values are sealed at rest: rank or order every candidate, then filter the
            # opened values here (the SQL filter's semantics) and take the page.
            for key, value in sealed_filter.items():
                check_filter(key, value)
            everything = op._replace(filter=None, limit=2**31 - 1, offset=0, refresh_ttl=False)
            kept = [
                item
                for item in await self._search(conn, everything, queries)
                if passes(item.value, sealed_filter)
            ][offset : offset + limit]
            if op.refresh_ttl and kept:
                await refresh(
                    conn, [join_namespace(i.namespace) for i in kept], [i.key for i in kept]
                )
            return kept
        query_vector = queries.get(op.query) if op.query else None
        if query_vector is None:
            rows = await conn.fetch(
                f"SELECT {_ITEM_COLUMNS}, NULL::float8 AS score FROM store_items s"
                f" WHERE {condition} ORDER BY s.updated_at DESC, s.prefix, s.key"
                f" LIMIT {limit} OFFSET {offset}",
                *params,
            )
        else:
            rows = await self._rank(conn, condition, params, query_vector, limit, offset)
            if len(rows) < limit:
                # Like InMemoryStore, fill the page with matching items that have no vector.
                rows = list(rows) + list(
                    await conn.fetch(
                        f"SELECT {_ITEM_COLUMNS}, NULL::float8 AS score FROM store_items s"
                        f" WHERE {condition} AND NOT EXISTS (SELECT 1 FROM store_vectors v"
                        " WHERE v.prefix = s.prefix AND v.key = s.key)"
                        f" ORDER BY s.updated_at DESC LIMIT {limit - len(rows)}",
                        *params,
                    )
                )
        if op.refresh_ttl and rows:
            await refresh(conn, [row["prefix"] for row in rows], [row["key"] for row in rows])
        return [
            SearchItem(
                namespace=split_prefix(row["prefix"]),
                key=row["key"],
                value=unseal_json(json.loads(row["value"])),
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                score=row["score"],
            )
            for row in rows
        ]

    async def _rank(
        self,
        conn: asyncpg.Connection,
        condition: str,
        params: list[Any],
        query_vector: list[float],
        limit: int,
        offset: int,
    ) -> list[asyncpg.Record]:
        """The page of matching items with vectors, by their best cosine similarity.

        An item scores the max over its vectors (one per indexed field), as in
        InMemoryStore. First the HNSW index yields the nearest vectors overall; ordered by
        distance, an item first appears at its best score, so if those candidates hold a
        full page of matching items that page is the answer. Otherwise (selective prefix
        or filter: pgvector 0.6 has no iterative index scans) every matching vector is
        ranked exactly.
        """
        q = f"${len(params) + 1}::text::vector"
        args = [*params, vector_text(query_vector)]
        page = f"ORDER BY score DESC, s.prefix, s.key LIMIT {limit} OFFSET {offset}"
        candidates = min(_MAX_EF_SEARCH, 4 * (offset + limit) + 40)
        if offset + limit <= candidates:
            await conn.execute(f"SET LOCAL hnsw.ef_search = {candidates}")
            rows: list[asyncpg.Record] = await conn.fetch(
                f"""
                WITH nearest AS MATERIALIZED (
                    SELECT prefix, key, embedding <=> {q} AS distance FROM store_vectors
                    ORDER BY embedding <=> {q} LIMIT {candidates}
                )
                SELECT {_ITEM_COLUMNS}, max(1 - v.distance) AS score
                FROM nearest v JOIN store_items s ON s.prefix = v.prefix AND s.key = v.key
                WHERE {condition}
                GROUP BY s.prefix, s.key {page}
                """,
                *args,
            )
            if len(rows) == limit:
                return rows
        exact: list[asyncpg.Record] = await conn.fetch(
            f"""
            SELECT {_ITEM_COLUMNS}, max(1 - (v.embedding <=> {q})) AS score
            FROM store_items s JOIN store_vectors v ON v.prefix = s.prefix AND v.key = s.key
            WHERE {condition}
            GROUP BY s.prefix, s.key {page}
            """,
            *args,
        )
        return exact

    # Writes

    async def _put(
        self,
        conn: asyncpg.Connection,
        puts: dict[Key, PutOp],
        values: dict[Key, str],
        vectors: list[tuple[Key, str, list[float]]],
    ) -> None:
        deletes = [k for k, op in puts.items() if op.value is None]
        if deletes:
            await conn.execute(
                "DELETE FROM store_items WHERE (prefix, key) IN"
                " (SELECT * FROM unnest($1::text[], $2::text[]))",
                [join_namespace(ns) for ns, _ in deletes],
                [key for _, key in deletes],
            )
        upserts = [k for k in puts if k in values]
        if not upserts:
            return
        await conn.execute(
            """
            INSERT INTO store_items (prefix, key, value, ttl_minutes, expires_at)
            SELECT prefix, key, value::jsonb, ttl,
                now() + make_interval(secs => ttl * 60)
            FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[])
                AS r(prefix, key, value, ttl)
            ON CONFLICT (prefix, key) DO UPDATE SET value = excluded.value,
                updated_at = now(), ttl_minutes = excluded.ttl_minutes,
                expires_at = excluded.expires_at
            """,
            [join_namespace(ns) for ns, _ in upserts],
            [key for _, key in upserts],
            [seal_json_text(values[k]) for k in upserts],
            [puts[k].ttl for k in upserts],
        )
        if self.index_config is None:
            return
        await conn.execute(
            "DELETE FROM store_vectors WHERE (prefix, key) IN"
            " (SELECT * FROM unnest($1::text[], $2::text[]))",
            [join_namespace(ns) for ns, _ in upserts],
            [key for _, key in upserts],
        )
        if vectors:
            await conn.execute(
                """
                INSERT INTO store_vectors (prefix, key, field_name, embedding)
                SELECT prefix, key, field, embedding::vector
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                    AS r(prefix, key, field, embedding)
                ON CONFLICT (prefix, key, field_name) DO UPDATE SET embedding = excluded.embedding
                """,
                [join_namespace(ns) for (ns, _), _, _ in vectors],
                [key for (_, key), _, _ in vectors],
                [field for _, field, _ in vectors],
                [vector_text(vector) for _, _, vector in vectors],
            )
