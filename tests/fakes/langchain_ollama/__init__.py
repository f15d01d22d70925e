"""A stand-in for the ``langchain-ollama`` package, so that the store's ``"embed":
"ollama:<model>"`` goes through LangChain's real ``init_embeddings`` with no model
server: ``OllamaEmbeddings`` makes 16 numbers from a text's hash. Put ``tests/fakes`` on
the path to use it."""

from __future__ import annotations

import hashlib
from typing import Any

from langchain_core.embeddings import Embeddings


class OllamaEmbeddings(Embeddings):
    def __init__(self, model: str, **settings: Any) -> None:
        self.model = model
        self.settings = settings

    def embed_query(self, text: str) -> list[float]:
        digest = hashlib.sha256(f"{self.model}:{text}".encode()).digest()
        return [(b - 127.5) / 127.5 for b in digest[:16]]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]
