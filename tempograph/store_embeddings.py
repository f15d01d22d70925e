"""The memory store's embeddings: search queries, and the indexed fields of the items a
batch puts, each embedded once per batch (:class:`tempograph.store.PostgresStore`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from langchain_core.embeddings import Embeddings
from langgraph.store.base import Op, PutOp, SearchOp, get_text_at_path, tokenize_path

Key = tuple[tuple[str, ...], str]


async def embed_queries(embeddings: Embeddings | None, ops: Sequence[Op]) -> dict[str, list[float]]:
    """Each distinct search query of the batch, embedded."""
    if embeddings is None:
        return {}
    texts = sorted({op.query for op in ops if isinstance(op, SearchOp) and op.query})
    vectors = await asyncio.gather(*(embeddings.aembed_query(text) for text in texts))
    return dict(zip(texts, vectors, strict=True))


async def embed_puts(
    embeddings: Embeddings | None,
    fields: list[tuple[str, str | list[str]]],
    puts: dict[Key, PutOp],
) -> list[tuple[Key, str, list[float]]]:
    """(item, field path, vector) for the indexed text of every put: the index config's
    ``fields`` unless the put names its own (``index=False``: none)."""
    if embeddings is None:
        return []
    targets: list[tuple[Key, str]] = []
    texts: list[str] = []
    for key, op in puts.items():
        if op.value is None or op.index is False:
            continue
        chosen = fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
        for path, tokens in chosen:
            found = get_text_at_path(op.value, tokens)
            names = [path] if len(found) == 1 else [f"{path}.{i}" for i in range(len(found))]
            targets.extend((key, name) for name in names)
            texts.extend(found)
    if not texts:
        return []
    vectors = await embeddings.aembed_documents(texts)
    if len(vectors) != len(texts):
        raise ValueError(f"the embedder returned {len(vectors)} vectors for {len(texts)} texts")
    return [(key, name, vector) for (key, name), vector in zip(targets, vectors, strict=True)]
