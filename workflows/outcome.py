"""What a run segment's end shows: its output (the state, with pending interrupts, or the
error as LangGraph Server shows it) and the failure Temporal records for a run that
fails. Pure functions of workflow code."""

from __future__ import annotations

from typing import Any

from langgraph.errors import GraphRecursionError
from temporalio.exceptions import ApplicationError

from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.types import ErrorType


def segment_output(state: Any, error: dict[str, str] | None) -> tuple[Any, dict[str, Any], Any]:
    """The segment's values, its pending interrupts by task id, and its output: the
    values with their interrupts, or the error."""
    values = state.values if state is not None else None
    interrupts = {
        task.id: to_jsonable(list(task.interrupts))
        for task in (state.tasks if state is not None else ())
        if task.interrupts
    }
    output: Any = values
    if error is not None:
        output = {"__error__": error_json(error)}
    elif interrupts and isinstance(values, dict):
        output = {**values, "__interrupt__": [i for v in interrupts.values() for i in v]}
    return values, interrupts, output


def error_json(error: dict[str, str]) -> dict[str, str]:
    """A run's error as LangGraph Server shows it (plus the failed node, when one did)."""
    shown = {"error": error.get("type", "Error"), "message": error["message"]}
    if error.get("node"):
        shown["node"] = error["node"]
    return shown


# An error message in a run's failure is cut here (the full text stays in the worker's
# log): a failing run's events, the run and its thread's `error` stay small whatever the
# exception says.
MESSAGE_LIMIT = 2000


def cut_message(text: str) -> str:
    if len(text) > MESSAGE_LIMIT:
        return f"{text[:MESSAGE_LIMIT]}... ({len(text)} characters)"
    return text


def as_failure(err: Exception) -> ApplicationError:
    """The run's failure: a node's error as it is, anything else by its type and message."""
    if isinstance(err, ApplicationError):
        return err
    if isinstance(err, GraphRecursionError):
        return ApplicationError(
            cut_message(str(err)), type=ErrorType.RECURSION_LIMIT, non_retryable=True
        )
    # A router, reducer or the entrypoint raised in the workflow: fail the run, do not
    # retry the workflow task forever. The type is the error's; the message its text (a
    # client shows "type: message", as LangGraph Server's errors read).
    return ApplicationError(
        cut_message(str(err) or type(err).__name__), type=type(err).__name__, non_retryable=True
    )
