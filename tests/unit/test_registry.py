"""langgraph.json loading: paths relative to the file, errors reported by graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tempograph.errors import ConfigError, GraphLoadError
from tempograph.registry import GraphSpec, load_graph, load_project, read_config

GOOD = """
from typing_extensions import TypedDict
from langgraph.graph import StateGraph, START

class S(TypedDict):
    n: int

def inc(state: S) -> dict:
    return {"n": state["n"] + 1}

b = StateGraph(S)
b.add_node("inc", inc)
b.add_edge(START, "inc")
graph = b.compile()
builder = b
"""


def write_project(tmp_path: Path, graphs: dict[str, str], files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    config = tmp_path / "langgraph.json"
    config.write_text(
        json.dumps({"dependencies": ["."], "graphs": graphs, "env": {"TG_TEST_ENV": "set"}})
    )
    return config


def test_graphs_load_by_relative_path_and_failures_are_named(tmp_path: Path) -> None:
    config = write_project(
        tmp_path,
        {
            "good": "./reg_good.py:graph",
            "from_builder": "./reg_good.py:builder",
            "missing_attr": "./reg_good.py:nope",
            "broken": "./reg_broken.py:graph",
            "not_a_graph": "./reg_good.py:inc",
        },
        {"reg_good.py": GOOD, "reg_broken.py": "raise RuntimeError('boom at import')\n"},
    )
    loaded, failed = load_project(read_config(config))
    assert sorted(loaded) == ["from_builder", "good"]
    assert "reg_good.inc" not in failed
    assert "has no attribute 'nope'" in failed["missing_attr"]
    assert "RuntimeError: boom at import" in failed["broken"]
    assert "expected a compiled graph" in failed["not_a_graph"]
    assert sorted(loaded["good"].targets) == ["good.inc"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"graphs": {}}', 'non-empty \\"graphs\\"'),
        ('{"graphs": {"a": "file.py"}}', "must be"),
        ('{"graphs": {"a.b": "./f.py:g"}}', "'.'"),
    ],
)
def test_bad_config_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "langgraph.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(path)


def test_sync_entrypoint_and_unknown_node_policies_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "reg_func.py").write_text(
        "from langgraph.func import entrypoint\n"
        "@entrypoint()\n"
        "def flow(x: int) -> int:\n    return x\n"
    )
    with pytest.raises(GraphLoadError, match="must be 'async def'"):
        load_graph(GraphSpec("flow", tmp_path / "reg_func.py", "flow"))
    (tmp_path / "reg_good2.py").write_text(GOOD)
    with pytest.raises(GraphLoadError, match="unknown nodes"):
        load_graph(GraphSpec("g", tmp_path / "reg_good2.py", "graph", nodes={"nope": {}}))


def test_two_graph_files_with_the_same_name_both_load(tmp_path: Path) -> None:
    for folder in ("team_a", "team_b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "graph.py").write_text(GOOD.replace("inc", f"inc_{folder}"))
    config = write_project(
        tmp_path, {"a": "./team_a/graph.py:graph", "b": "./team_b/graph.py:graph"}, {}
    )
    loaded, failed = load_project(read_config(config))
    assert failed == {}
    assert sorted(loaded["a"].targets) == ["a.inc_team_a"]
    assert sorted(loaded["b"].targets) == ["b.inc_team_b"]
