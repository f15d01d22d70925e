"""Token usage and cost from LangChain's callbacks, and the price table's checks."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from tempograph.errors import ConfigError
from tempograph.telemetry import exporter_class
from tempograph.usage import Prices, UsageHandler


def reply(model: str, inputs: int, outputs: int) -> AIMessage:
    return AIMessage(
        "ok",
        usage_metadata={
            "input_tokens": inputs,
            "output_tokens": outputs,
            "total_tokens": inputs + outputs,
        },
        response_metadata={"model_name": model},
    )


def test_usage_is_added_up_by_model_and_priced() -> None:
    prices = Prices.parse({"gpt-x": {"input": 1.0, "output": 4.0}}, "langgraph.json")
    handler = UsageHandler(prices)
    model = GenericFakeChatModel(
        messages=iter([reply("gpt-x", 1000, 500), reply("gpt-x", 3000, 0), reply("other", 7, 3)])
    )
    for _ in range(3):
        model.invoke("hi", config={"callbacks": [handler]})
    priced, unpriced = handler.by_model["gpt-x"], handler.by_model["other"]
    assert (priced.calls, priced.input_tokens, priced.output_tokens) == (2, 4000, 500)
    assert priced.cost_usd == pytest.approx((4000 * 1.0 + 500 * 4.0) / 1_000_000)
    assert (unpriced.input_tokens, unpriced.output_tokens, unpriced.cost_usd) == (7, 3, None)


@pytest.mark.parametrize(
    "raw",
    [["gpt"], {"gpt": 3}, {"gpt": {"input": -1}}, {"gpt": {"inputs": 1}}],
)
def test_a_bad_price_table_says_what_is_wrong(raw: object) -> None:
    with pytest.raises(ConfigError, match="price"):
        Prices.parse(raw, "langgraph.json")


def test_the_otlp_protocol_follows_the_standard_variable() -> None:
    assert exporter_class("grpc").__module__.endswith("grpc.trace_exporter")
    assert exporter_class("http/protobuf").__module__.endswith("http.trace_exporter")
    with pytest.raises(ConfigError, match="http/protobuf' or 'grpc'"):
        exporter_class("http/json")
