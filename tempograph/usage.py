"""What a node's model calls used and cost, and their spans.

A :class:`UsageHandler` is one node attempt's LangChain callback handler. For every chat
model or LLM call it adds LangChain's ``usage_metadata`` (input and output tokens) to the
attempt's tally by model, priced from langgraph.json's price table::

    "tempograph": {"prices": {"gpt-4o-mini": {"input": 0.15, "output": 0.6}}}

(US dollars per million tokens; a model missing from the table has tokens but no cost).
With tracing on, each model and tool call is also a span under the node attempt's span,
named and attributed after OpenTelemetry's GenAI conventions
(``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ``gen_ai.tool.name``...).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from tempograph.errors import ConfigError


@dataclass
class ModelUsage:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None


class Prices:
    """US dollars per million input and output tokens, by model name."""

    def __init__(self, table: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self._table = dict(table or {})

    @classmethod
    def parse(cls, raw: Any, where: str) -> Prices:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ConfigError(f'{where}: "tempograph.prices" must map model names to prices')
        for model, price in raw.items():
            if not (
                isinstance(price, dict)
                and set(price) == {"input", "output"}
                and all(isinstance(v, (int, float)) and v >= 0 for v in price.values())
            ):
                raise ConfigError(
                    f'{where}: the price of {model!r} must be {{"input": USD per million'
                    ' tokens, "output": USD per million tokens}'
                )
        return cls(raw)

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        price = self._table.get(model)
        if price is None:
            return None
        return (
            input_tokens * price.get("input", 0.0) + output_tokens * price.get("output", 0.0)
        ) / 1_000_000


def _model_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> str:
    metadata = kwargs.get("metadata") or {}
    params = kwargs.get("invocation_params") or {}
    for name in (
        metadata.get("ls_model_name"),
        params.get("model"),
        params.get("model_name"),
        (serialized or {}).get("name"),
        params.get("_type"),
    ):
        if isinstance(name, str) and name:
            return name
    return "unknown"


def _usage_of(response: Any) -> tuple[str | None, int, int]:
    """The model the provider names, and the input and output tokens of an LLMResult."""
    model, inputs, outputs = None, 0, 0
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            usage = getattr(message, "usage_metadata", None)
            if usage:
                inputs += int(usage.get("input_tokens") or 0)
                outputs += int(usage.get("output_tokens") or 0)
            meta = getattr(message, "response_metadata", None) or {}
            model = model or meta.get("model_name") or meta.get("model")
    if not inputs and not outputs and response.llm_output:  # older integrations
        usage = response.llm_output.get("token_usage") or {}
        inputs = int(usage.get("prompt_tokens") or 0)
        outputs = int(usage.get("completion_tokens") or 0)
        model = model or response.llm_output.get("model_name")
    return model, inputs, outputs


class UsageHandler(BaseCallbackHandler):
    """One node attempt's model usage (and, with ``tracer``, its model and tool spans)."""

    run_inline = True  # called where the model runs: the node's span is the current one

    def __init__(self, prices: Prices, tracer: Any = None) -> None:
        self._prices = prices
        self._tracer = tracer
        self._lock = threading.Lock()  # sync nodes call back from executor threads
        self._models: dict[UUID, str] = {}
        self._spans: dict[UUID, Any] = {}
        self.by_model: dict[str, ModelUsage] = {}

    # -- models ----------------------------------------------------------------------

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._model_started(serialized, run_id, kwargs)

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._model_started(serialized, run_id, kwargs)

    def _model_started(
        self, serialized: dict[str, Any] | None, run_id: UUID, kwargs: Mapping[str, Any]
    ) -> None:
        model = _model_name(serialized, kwargs)
        with self._lock:
            self._models[run_id] = model
        if self._tracer is not None:
            self._start_span(
                run_id,
                kwargs.get("parent_run_id"),
                f"chat {model}",
                {"gen_ai.operation.name": "chat", "gen_ai.request.model": model},
            )

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        named, inputs, outputs = _usage_of(response)
        with self._lock:
            requested = self._models.pop(run_id, "unknown")
            model = named or requested
            tally = self.by_model.setdefault(model, ModelUsage())
            tally.calls += 1
            tally.input_tokens += inputs
            tally.output_tokens += outputs
            cost = self._prices.cost(model, tally.input_tokens, tally.output_tokens)
            if cost is not None:
                tally.cost_usd = cost
        self._end_span(
            run_id,
            {
                "gen_ai.response.model": model,
                "gen_ai.usage.input_tokens": inputs,
                "gen_ai.usage.output_tokens": outputs,
            },
        )

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._models.pop(run_id, None)
        self._end_span(run_id, error=error)

    # -- tools -----------------------------------------------------------------------

    def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        if self._tracer is not None:
            name = kwargs.get("name") or (serialized or {}).get("name") or "tool"
            self._start_span(
                run_id,
                kwargs.get("parent_run_id"),
                f"execute_tool {name}",
                {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name},
            )

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_span(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_span(run_id, error=error)

    # -- spans -----------------------------------------------------------------------

    def _start_span(
        self, run_id: UUID, parent_run_id: UUID | None, name: str, attributes: dict[str, Any]
    ) -> None:
        from opentelemetry import trace

        with self._lock:
            parent = self._spans.get(parent_run_id) if parent_run_id else None
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self._tracer.start_span(name, context=context, attributes=attributes)
        with self._lock:
            self._spans[run_id] = span

    def _end_span(
        self,
        run_id: UUID,
        attributes: dict[str, Any] | None = None,
        error: BaseException | None = None,
    ) -> None:
        with self._lock:
            span = self._spans.pop(run_id, None)
        if span is None:
            return
        if attributes:
            span.set_attributes(attributes)
            answered = attributes.get("gen_ai.response.model")
            if answered:  # the model the provider says answered, not the client's class
                span.update_name(f"chat {answered}")
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end()

    def close(self) -> None:
        """End spans a failing node left open (its model call raised past LangChain)."""
        with self._lock:
            open_spans = list(self._spans.values())
            self._spans.clear()
        for span in open_spans:
            span.end()
