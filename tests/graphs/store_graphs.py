"""A graph whose nodes remember things in the long-term store, and the test embedding."""

from __future__ import annotations

import hashlib
import operator
from typing import Annotated, TypedDict

from langchain_core.embeddings import Embeddings
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore

DIMS = 16


class HashEmbedding(Embeddings):
    """Deterministic vectors from a text's hash: no model, no numpy (which LangChain's
    DeterministicFakeEmbedding needs and Tempograph does not install)."""

    def embed_query(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        return [(b - 127.5) / 127.5 for b in digest[:DIMS]]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


embeddings = HashEmbedding()


class MemoryState(TypedDict, total=False):
    user: str
    fact: str
    recalled: Annotated[list[str], operator.add]


async def remember(state: MemoryState, *, store: BaseStore) -> dict:
    """Writes with the injected ``store`` keyword, as LangGraph nodes do."""
    await store.aput(("memories", state["user"]), state["fact"], {"text": state["fact"]})
    return {}


def recall(state: MemoryState, runtime: Runtime[None]) -> dict:
    """A sync node reading through ``runtime.store`` (it runs in a worker thread)."""
    assert runtime.store is not None
    items = runtime.store.search(("memories", state["user"]), limit=100)
    return {"recalled": sorted(item.value["text"] for item in items)}


builder = StateGraph(MemoryState)
builder.add_node("remember", remember)
builder.add_node("recall", recall)
builder.add_edge(START, "remember")
builder.add_edge("remember", "recall")
builder.add_edge("recall", END)
graph = builder.compile()
