"""Serving the app with uvicorn inside a command that runs several parts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class ApiServer(uvicorn.Server):
    """uvicorn that leaves SIGINT/SIGTERM to the command: ``tempograph up`` stops the
    API, the worker and the servers together.

    Each request starts from an empty context. Without that, a request whose body
    outgrows uvicorn's read buffer (64 KiB) resumes reading its connection from inside
    its own context, and every later request on that keep-alive connection inherits it:
    its trace (the next request became a span of the earlier one) and the earlier
    caller's identity (``tempograph.api.auth``) for routes that do not authenticate.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        config.reset_contextvars = True
        super().__init__(config)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
