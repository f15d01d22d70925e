"""The README's compatibility matrix (scripts/compat_matrix.py) is current, and its
reading of the SDK's requests covers the shapes the SDK writes them in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts.compat_matrix import calls

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compat_matrix.py"


def test_the_readme_matrix_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


class FakeClient:
    http: Any

    async def branches(self, thread_id: str | None) -> None:
        endpoint = f"/threads/{thread_id}/runs/stream" if thread_id else "/runs/stream"
        self.http.stream(endpoint, "POST", json={})
        await self.http.post(f"/threads/{thread_id}/runs" if thread_id else "/runs", json={})
        await self.http.request_reconnect(f"/threads/{thread_id}/runs/x/cancel", "POST")
        await self.http.delete("/store/items", json={})


def test_every_branch_of_a_method_is_read() -> None:
    assert calls(FakeClient.branches) == [
        ("POST", "/runs"),
        ("POST", "/runs/stream"),
        ("DELETE", "/store/items"),
        ("POST", "/threads/{}/runs"),
        ("POST", "/threads/{}/runs/stream"),
        ("POST", "/threads/{}/runs/x/cancel"),
    ]
