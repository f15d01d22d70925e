"""The store's ``index.embed`` as a LangChain provider string (``"ollama:hash-16"``),
resolved by LangChain's own ``init_embeddings`` as LangGraph Server does. No provider can
be reached here: ``tests/fakes/langchain_ollama`` stands in for the provider's package."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from tempograph.errors import ConfigError
from tempograph.registry import read_config, store_settings
from tests.integration.test_cli import up_stack

FAKES = Path(__file__).resolve().parents[1] / "fakes"
APP = Path(__file__).resolve().parents[1] / "graphs" / "provider_embed" / "langgraph.json"


def config_with(tmp_path: Path, embed: str) -> Path:
    path = tmp_path / "langgraph.json"
    graph = Path(__file__).resolve().parents[1] / "graphs" / "store_graphs.py"
    index = {"embed": embed, "dims": 16, "fields": ["text"]}
    path.write_text(json.dumps({"graphs": {"memory": f"{graph}:graph"}, "store": {"index": index}}))
    return path


def test_a_provider_string_resolves_through_init_embeddings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(FAKES))
    index, _ = store_settings(read_config(config_with(tmp_path, "ollama:hash-16")))
    assert index is not None
    embed = index["embed"]
    assert type(embed).__name__ == "OllamaEmbeddings" and embed.model == "hash-16"
    assert len(embed.embed_query("tea")) == 16


@pytest.mark.parametrize(
    ("embed", "says"),
    [
        ("nosuch:model", "not supported"),  # LangChain's list of providers follows
        ("cohere:embed-english-v3.0", "langchain-cohere"),  # the package to install
        ("no-colon", "provider string"),
    ],
)
def test_a_provider_string_that_cannot_load_is_a_config_error(
    tmp_path: Path, embed: str, says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        store_settings(read_config(config_with(tmp_path, embed)))
    assert says in str(raised.value) and "store.index.embed" in str(raised.value)


async def test_semantic_search_through_the_sdk_with_a_provider_string(tmp_path: Path) -> None:
    path = os.pathsep.join([str(FAKES), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    with up_stack(tmp_path / "data", APP, PYTHONPATH=path) as (up, _):
        sdk = get_client(url=f"http://127.0.0.1:{up.api_port}")
        await sdk.store.put_item(["docs"], "tea", {"text": "green tea from Japan"})
        await sdk.store.put_item(["docs"], "bikes", {"text": "fixing a bicycle chain"})
        found = await sdk.store.search_items(["docs"], query="green tea from Japan", limit=2)
        items = found["items"]
        assert [item["key"] for item in items] == ["tea", "bikes"]
        # Scored by the vectors the provider made: the exact text scores highest.
        assert items[0]["score"] is not None and items[0]["score"] > items[1]["score"]
