"""Serving the app with uvicorn inside a command that runs several parts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class ApiServer(uvicorn.Server):
    """uvicorn that leaves SIGINT/SIGTERM to the command: ``tempograph up`` stops the
    API, the worker and the servers together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
