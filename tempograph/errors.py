"""The project's error tree: one base class, an error code per failure."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable codes; the CLI and the API map them to exit codes and HTTP statuses."""

    CONFIG_INVALID = "config_invalid"
    GRAPH_LOAD_FAILED = "graph_load_failed"
    GRAPH_NOT_DURABLE = "graph_not_durable"
    UNKNOWN_GRAPH = "unknown_graph"
    INVALID_INPUT = "invalid_input"
    NOT_WAITING = "not_waiting"
    NOT_FOUND = "not_found"
    RUN_FAILED = "run_failed"
    SERVER_UNAVAILABLE = "server_unavailable"
    UNAUTHORIZED = "unauthorized"


class TempographError(Exception):
    """Base class of every error Tempograph raises on purpose."""

    code: ErrorCode = ErrorCode.RUN_FAILED

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(TempographError):
    """A langgraph.json, a setting or a node policy is invalid."""

    code = ErrorCode.CONFIG_INVALID


class GraphLoadError(TempographError):
    """A graph could not be imported, or cannot be run durably."""

    code = ErrorCode.GRAPH_LOAD_FAILED

    def __init__(self, graph_id: str, reason: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(f"graph {graph_id!r}: {reason}", code=code)
        self.graph_id = graph_id
        self.reason = reason


class InvalidRequestError(TempographError):
    """A request names an unknown graph, has malformed input, or cannot apply now."""

    code = ErrorCode.INVALID_INPUT
