"""A user's project may name its own packages ``workflows``, ``api``, ``activities`` and
``temporal`` (common folder names): Tempograph's live only under ``tempograph``, so the
project loads and runs unchanged, through ``tempograph up`` and ``tempograph run``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.test_cli import TEMPOGRAPH, started

pytestmark = pytest.mark.slow

FILES = {
    "langgraph.json": json.dumps({"graphs": {"agent": "./workflows/agent.py:graph"}}),
    "workflows/__init__.py": "",
    "workflows/helpers.py": "def shout(text: str) -> str:\n    return text.upper()\n",
    "api/__init__.py": "",
    "api/client.py": "GREETING = 'hello from api'\n",
    "activities/__init__.py": "",
    "activities/tools.py": "def exclaim(text: str) -> str:\n    return text + '!'\n",
    "temporal/__init__.py": "",
    "temporal/names.py": "NAME = 'temporal'\n",
    "workflows/agent.py": """
from typing import TypedDict

from langgraph.graph import START, StateGraph

from activities.tools import exclaim
from api.client import GREETING
from temporal.names import NAME
from workflows.helpers import shout


class State(TypedDict, total=False):
    text: str


def speak(state: State) -> dict:
    return {"text": exclaim(shout(f"{GREETING} and {NAME}: {state['text']}"))}


builder = StateGraph(State)
builder.add_node("speak", speak)
builder.add_edge(START, "speak")
graph = builder.compile()
""",
}


def test_a_project_with_packages_named_like_ours_runs(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name, text in FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    port, ui_port, api_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "TEMPOGRAPH_DATA_DIR": str(tmp_path / "data"),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
    }
    env.pop("DATABASE_URL", None)
    up = [
        "up",
        "--config",
        str(project / "langgraph.json"),
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--api-port",
        str(api_port),
    ]
    with started(up, env) as (_, lines):
        assert not any("not loaded" in line for line in lines), lines
        result = subprocess.run(
            [TEMPOGRAPH, "run", "agent", "--input", '{"text": "hi"}'],
            env=env,
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"text": "HELLO FROM API AND TEMPORAL: HI!"}
