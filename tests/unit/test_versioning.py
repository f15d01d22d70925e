"""``--build-id auto``: the id follows the code a worker loaded, and nothing else."""

from __future__ import annotations

from pathlib import Path

from tempograph.registry import import_file
from tempograph.temporal.versioning import code_build_id


def test_the_id_changes_with_the_projects_code_and_config_only(tmp_path: Path) -> None:
    config = tmp_path / "langgraph.json"
    config.write_text('{"graphs": {"g": "./graph_mod.py:graph"}}')
    module = tmp_path / "graph_mod.py"
    module.write_text("graph = 1\n")
    import_file(module)
    first = code_build_id(config, [tmp_path])
    assert first.startswith("code-") and len(first) == len("code-") + 12
    assert code_build_id(config, [tmp_path]) == first  # same code, same id
    (tmp_path / "notes.txt").write_text("not code")  # files it did not load do not count
    assert code_build_id(config, [tmp_path]) == first
    module.write_text("graph = 2\n")
    changed = code_build_id(config, [tmp_path])
    assert changed != first
    config.write_text('{"graphs": {"g": "./graph_mod.py:graph"}, "env": {}}')
    assert code_build_id(config, [tmp_path]) not in (first, changed)
