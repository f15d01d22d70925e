"""Checks on a run request before it is accepted (update validators: no side effects)."""

from __future__ import annotations

from typing import Any

import jsonschema
from temporalio.exceptions import ApplicationError

from tempograph.workflows.durable import DurableGraph
from tempograph.workflows.types import RunRequest


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidRequest", non_retryable=True)


def validate_request(durable: DurableGraph, request: RunRequest) -> None:
    """Reject input that does not fit the graph's input schema, and bad limits."""
    limit = request.config.get("recursion_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise _invalid(f"recursion_limit must be a positive integer, got {limit!r}")
    if request.command is not None or request.input is None or durable.functional:
        return
    schema = durable.input_schema
    if not isinstance(request.input, dict):
        raise _invalid(
            f"input must be a JSON object for graph {durable.graph_id!r}, "
            f"got {type(request.input).__name__}"
        )
    properties: dict[str, Any] = schema.get("properties", {})
    unknown = sorted(set(request.input) - set(properties))
    if properties and unknown:
        raise _invalid(
            f"input has keys {unknown} that graph {durable.graph_id!r} does not "
            f"accept; its input keys are {sorted(properties)}"
        )
    for key in sorted(request.input):
        prop = properties.get(key)
        # Message lists and other model-typed channels are coerced by LangGraph itself
        # (a dict becomes a HumanMessage); only plain JSON-typed keys are checked here.
        if not prop or "$ref" in repr(prop):
            continue
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(prop).iter_errors(request.input[key])
        )
        if error is not None:
            raise _invalid(
                f"input does not match graph {durable.graph_id!r}: {key}: {error.message}"
            )


def is_interrupt_id(key: object) -> bool:
    """Interrupt ids are 32 hex digits (xxh3-128), as LangGraph recognises them."""
    return isinstance(key, str) and len(key) == 32 and all(c in "0123456789abcdef" for c in key)
