"""Serving the app with uvicorn inside a command that runs several parts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn

KEEP_ALIVE_SECONDS = 75


class ApiServer(uvicorn.Server):
    """uvicorn that leaves SIGINT/SIGTERM to the command: ``tempograph up`` stops the
    API, the worker and the servers together.

    Each request starts from an empty context. Without that, a request whose body
    outgrows uvicorn's read buffer (64 KiB) resumes reading its connection from inside
    its own context, and every later request on that keep-alive connection inherits it:
    its trace (the next request became a span of the earlier one) and the earlier
    caller's identity (``tempograph.api.auth``) for routes that do not authenticate.

    An idle keep-alive connection is kept 75 s, not uvicorn's 5: httpx (under
    langgraph-sdk) reuses a connection idle for up to 5 s, so with equal timeouts a
    request sent as the server closes the connection fails with a read error. Longer than
    a client's expiry, and than a load balancer's usual 60 s idle timeout, the server is
    never the one to close first.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        config.reset_contextvars = True
        config.timeout_keep_alive = KEEP_ALIVE_SECONDS
        super().__init__(config)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
