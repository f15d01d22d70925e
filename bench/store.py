"""Memory store benchmark: put and search at 10k and 100k items with 384-dimension vectors.

    .venv/bin/python bench/store.py [--sizes 10000 100000] [--queries 50]

Starts its own embedded Postgres (or uses DATABASE_URL), fills the store in batches, and
measures at each size: single-put latency, bulk-put throughput, vector search latency
(``query``, limit 10) and filtered search latency (no query). Embeddings come from a hash,
so the numbers are the store's and Postgres's, not a model's.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp

from tempograph.database import EmbeddedPostgres, migrate, open_pool
from tempograph.store import PostgresStore

DIMS = 384
TOPICS = ["tea", "coffee", "jazz", "hiking", "chess", "python", "sailing", "opera"]


class HashEmbedding(Embeddings):
    """384 deterministic dimensions from SHA-512 digests of the text."""

    def embed_query(self, text: str) -> list[float]:
        out: list[float] = []
        salt = 0
        while len(out) < DIMS:
            digest = hashlib.sha512(f"{salt}:{text}".encode()).digest()
            out.extend((b - 127.5) / 127.5 for b in digest)
            salt += 1
        return out[:DIMS]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


def _value(i: int) -> dict[str, object]:
    return {"text": f"user {i % 97} likes {TOPICS[i % len(TOPICS)]} #{i}", "n": i % 10}


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


async def fill(store: PostgresStore, start: int, stop: int, batch: int = 500) -> float:
    """Put items ``start..stop``; returns items per second."""
    began = time.perf_counter()
    for first in range(start, stop, batch):
        ops = [
            PutOp(("bench", f"u{i % 97}"), f"k{i}", _value(i))
            for i in range(first, min(first + batch, stop))
        ]
        await store.abatch(ops)
    return (stop - start) / (time.perf_counter() - began)


async def measure(store: PostgresStore, size: int, queries: int) -> dict[str, float]:
    puts = []
    for i in range(queries):
        began = time.perf_counter()
        await store.aput(("bench", "single"), f"s{size}-{i}", _value(i))
        puts.append(time.perf_counter() - began)
    vector, filtered = [], []
    for i in range(queries):
        began = time.perf_counter()
        await store.asearch(("bench",), query=f"who likes {TOPICS[i % len(TOPICS)]}", limit=10)
        vector.append(time.perf_counter() - began)
        began = time.perf_counter()
        await store.asearch(("bench", f"u{i % 97}"), filter={"n": i % 10}, limit=10)
        filtered.append(time.perf_counter() - began)
    put_med, put_p95 = _ms(puts)
    vec_med, vec_p95 = _ms(vector)
    fil_med, fil_p95 = _ms(filtered)
    return {
        "put median ms": put_med,
        "put p95 ms": put_p95,
        "vector search median ms": vec_med,
        "vector search p95 ms": vec_p95,
        "filtered search median ms": fil_med,
        "filtered search p95 ms": fil_p95,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        embedded = None
        url = os.environ.get("DATABASE_URL")
        if url is None:
            embedded = EmbeddedPostgres(Path(tmp) / "pg")
            url = embedded.start()
        pool = await open_pool(url, max_size=4)
        try:
            await migrate(pool)
            await pool.execute("DROP TABLE IF EXISTS store_vectors")
            await pool.execute("TRUNCATE store_items")
            store = PostgresStore(
                pool, index={"dims": DIMS, "embed": HashEmbedding(), "fields": ["text"]}
            )
            await store.setup()
            rows: list[tuple[int, float, dict[str, float]]] = []
            have = 0
            for size in sorted(args.sizes):
                rate = await fill(store, have, size)
                have = size
                rows.append((size, rate, await measure(store, size, args.queries)))
                print(f"{size} items: filled at {rate:.0f} items/s", file=sys.stderr)
        finally:
            await pool.close()
            if embedded is not None:
                embedded.stop()
    keys = list(rows[0][2])
    print("| measurement | " + " | ".join(f"{size:,} items" for size, _, _ in rows) + " |")
    print("|---|" + "---|" * len(rows))
    print("| bulk put, items/s | " + " | ".join(f"{rate:.0f}" for _, rate, _ in rows) + " |")
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{m[key]:.1f}" for _, _, m in rows) + " |")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = last[2]["vector search median ms"] / first[2]["vector search median ms"]
        print(f"\nvector search median grows {growth:.2f}x for {last[0] // first[0]}x the items")


if __name__ == "__main__":
    asyncio.run(main())
