"""What a run request must pass before anything is stored: its assistant (that the
caller may use), its body, its input against the graph, and values the engine can
carry."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import jsonschema
import ormsgpack
from fastapi import HTTPException
from langgraph.channels.binop import BinaryOperatorAggregate
from langgraph.graph.message import add_messages

from tempograph.api import auth
from tempograph.api.auth import authorize
from tempograph.api.auth_filters import matches
from tempograph.api.graphs import system_assistant_id
from tempograph.api.models import RunCreate
from tempograph.api.state import AppState
from tempograph.api.storage.assistants import AssistantStore
from tempograph.api.storage.threads import ThreadStore
from tempograph.webhooks import WebhookRefused, check_url


async def assistant(state: AppState, assistant_id: str) -> dict[str, Any]:
    """The assistant a run names (a graph id means its system assistant); 404/422."""
    if assistant_id in state.catalog.graphs:
        key = system_assistant_id(assistant_id)
    else:
        try:
            key = UUID(assistant_id)
        except ValueError:
            raise HTTPException(
                422,
                f"Invalid assistant: {assistant_id!r}. Must be either a UUID or one of the "
                f"graph ids {state.catalog.ids()}",
            ) from None
    found = await AssistantStore(await state.database.pool()).get(key, auth.tenant())
    if found is None:
        raise HTTPException(404, "Thread or assistant not found.")
    if found["metadata"].get("created_by") != "system":
        # A user's assistant is the caller's to run only if they may read it.
        filters = await authorize("assistants", "read", {"assistant_id": found["assistant_id"]})
        if not matches(found["metadata"], filters):
            raise HTTPException(404, "Thread or assistant not found.")
    return found


async def allowed_thread(
    state: AppState,
    thread_id: UUID,
    action: str = "read",
    value: dict[str, Any] | None = None,
    *,
    values: bool = False,
) -> dict[str, Any]:
    """The thread (with its ``values`` only if asked), when the caller may ``action`` it
    (the auth handler's filter holds for its metadata); a 404 when it is unknown or not
    theirs, as LangGraph Server answers."""
    filters = await authorize("threads", action, value or {"thread_id": thread_id})
    store = ThreadStore(await state.database.pool(), state.values)
    found = await store.get(thread_id, auth.tenant(), values=values)
    if found is None or not matches(found["metadata"], filters):
        raise HTTPException(404, f"Thread {thread_id} not found")
    return found


async def check_run(state: AppState, body: RunCreate) -> dict[str, Any]:
    """Everything a run request is checked for before its run is made (a batch's, a
    cron's): its body, its assistant, its input and its webhook. Returns the assistant."""
    check_body(body)
    found = await assistant(state, body.assistant_id)
    config = {**found["config"], **body.config}
    check_input(state, found["graph_id"], body, config)
    check_carriable(body, config, body.context)
    if body.webhook is not None:
        try:
            await check_url(body.webhook, allow_private=state.webhook_allow_private)
        except WebhookRefused as err:
            raise HTTPException(422, str(err)) from None
    return found


def check_body(body: RunCreate) -> None:
    """Refuse what LangGraph Server refuses before anything is stored."""
    for key in ("configurable", "metadata"):
        if not isinstance(body.config.get(key) or {}, dict):
            raise HTTPException(422, f"config.{key} must be an object")
    if body.config.get("configurable") and body.context:
        raise HTTPException(400, "Cannot specify both configurable and context; use context")


def check_carriable(body: RunCreate, config: dict[str, Any], context: Any) -> None:
    """What the engine could not carry: JSON allows integers msgpack cannot hold (beyond
    64 bits). Found now, not when the run's workflow starts (maybe behind others)."""
    command = body.command.model_dump() if body.command is not None else None
    try:
        ormsgpack.packb([body.input, command, config, context])
    except (TypeError, ValueError, OverflowError) as err:
        raise HTTPException(
            422, f"The run's input, command, config or context cannot be carried: {err}"
        ) from None


def _check_messages(graph_id: str, key: str, channel: Any, value: Any) -> None:
    """A message channel (``add_messages``) takes what LangGraph turns into messages: a
    message or a list of them, as objects, dicts with ``role`` and ``content``, strings
    or (role, content) pairs. Anything else would fail the run in its first step; it is
    refused here, by LangGraph's own reducer (pure: no user code runs in the API)."""
    if not isinstance(channel, BinaryOperatorAggregate) or channel.operator is not add_messages:
        return
    try:
        add_messages([], value)
    except (ValueError, TypeError, NotImplementedError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise HTTPException(
            422, f"input does not match graph {graph_id!r}: {key}: not messages: {reason}"
        ) from None


def check_input(state: AppState, graph_id: str, body: RunCreate, config: dict[str, Any]) -> None:
    """The run's input against its graph's input schema, and its limits; 422 if not."""
    limit = config.get("recursion_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise HTTPException(422, f"recursion_limit must be a positive integer, got {limit!r}")
    durable = state.catalog.durable.get(graph_id)
    if durable is None or body.command is not None or body.input is None or durable.functional:
        return
    if not isinstance(body.input, dict):
        raise HTTPException(
            422,
            f"input must be a JSON object for graph {graph_id!r}, got {type(body.input).__name__}",
        )
    properties: dict[str, Any] = durable.input_schema.get("properties", {})
    unknown = sorted(set(body.input) - set(properties))
    if properties and unknown and len(unknown) == len(body.input):
        # Keys beside the graph's own are ignored, as LangGraph ignores them (an app may
        # send more than one graph reads); an input that sets none of them is a mistake.
        raise HTTPException(
            422,
            f"input has keys {unknown} that graph {graph_id!r} does not accept, and none it "
            f"does; its input keys are {sorted(properties)}",
        )
    channels = durable.workflow_graph.channels
    for key in sorted(body.input):
        _check_messages(graph_id, key, channels.get(key), body.input[key])
        prop = properties.get(key)
        # Message lists and other model-typed channels are coerced by LangGraph itself
        # (a dict becomes a HumanMessage); only plain JSON-typed keys are checked here.
        if not prop or "$ref" in repr(prop):
            continue
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(prop).iter_errors(body.input[key])
        )
        if error is not None:
            raise HTTPException(
                422, f"input does not match graph {graph_id!r}: {key}: {error.message}"
            )
