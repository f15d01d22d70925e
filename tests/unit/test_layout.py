"""Our code imports itself only as ``tempograph.*``: a top-level ``workflows`` (or
``api``, ``activities``, ``temporal``) belongs to the user's project."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ["tempograph", "workflows", "activities", "api", "temporal", "bench"]
TOP_LEVEL = re.compile(r"^\s*(from|import)\s+(workflows|api|activities|temporal)(\.|\s|$)", re.M)


def test_no_module_imports_our_folders_by_their_top_level_names() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if TOP_LEVEL.search(path.read_text())
    ]
    assert offenders == []
