"""Workflow code runs unsandboxed (see the README's Determinism section), so this test is
one of the guards instead: nothing in ``workflows/`` imports a module whose use would make
a replay differ (clock, randomness, environment, I/O), or calls one of those functions
through another name. The replay tests (also in the strict sandbox) are the other."""

from __future__ import annotations

import ast
from pathlib import Path

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
FORBIDDEN_MODULES = {
    "random",
    "secrets",
    "time",
    "os",
    "socket",
    "subprocess",
    "asyncpg",
    "httpx",
    "requests",
    "urllib",
    "aiohttp",
}
# Attribute calls that read the clock, draw randomness or read the environment.
FORBIDDEN_CALLS = {"now", "utcnow", "today", "uuid1", "uuid4", "getenv", "urandom"}


def parse(source: str) -> ast.Module:
    # CPython 3.11 keeps ast.parse's depth counter per interpreter, so a parse on another
    # thread (LangChain parses node functions; the suite's workers are still running) can
    # make this one fail with a spurious SystemError (a CPython race; see
    # python/cpython#106905). The parse itself is deterministic: try again.
    for _ in range(5):
        try:
            return ast.parse(source)
        except SystemError as error:
            if "recursion depth mismatch" not in str(error):
                raise
    return ast.parse(source)


def offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            # Temporal's own (workflow.now(), workflow.uuid4()) are deterministic.
            if node.func.attr in FORBIDDEN_CALLS and ast.unparse(node.func.value) != "workflow":
                found.append(f"{ast.unparse(node.func)}() at line {node.lineno}")
        elif isinstance(node, ast.Attribute) and node.attr == "environ":
            found.append(f"{ast.unparse(node)} at line {node.lineno}")
    return found


def test_the_guard_catches_what_it_should() -> None:
    bad = "import random\nfrom time import time\nimport os\nx = datetime.now()\ny = os.environ"
    assert len(offences(bad)) == 5
    # datetime's ``time`` class, a deterministic uuid and Temporal's clock are fine.
    fine = "from datetime import time\nimport uuid\nuuid.uuid5(NS, 'x')\nworkflow.now()"
    assert offences(fine) == []


def test_workflow_code_has_no_clock_randomness_environment_or_io() -> None:
    found = {
        path.name: bad
        for path in sorted(WORKFLOWS.glob("*.py"))
        if (bad := offences(path.read_text()))
    }
    assert found == {}
