"""langgraph.json's ``tempograph.breakers`` and a node policy's ``breaker``: what is
accepted, what is refused and why."""

from __future__ import annotations

import pytest

from tempograph.breakers import BreakerConfig, BreakerSettings
from tempograph.errors import ConfigError
from tempograph.workflows.policy import NodePolicy, apply_overrides


def test_settings_default_per_name_and_queues_name_their_breaker() -> None:
    config = BreakerConfig.parse(
        {
            "openai": {"failures": 4, "window": 30, "cool_down": 10, "task_queues": ["llm"]},
            "search": {"errors": ["ConnectError"]},
        },
        "langgraph.json",
    )
    assert config.of("openai") == BreakerSettings(4, 30.0, 10.0, (), ("llm",))
    assert config.of("search").failures == 5 and config.of("search").errors == ("ConnectError",)
    assert config.of("unlisted") == BreakerSettings()  # a name alone is enough
    assert config.for_queue("llm") == "openai"
    assert config.for_queue("other") is None
    assert BreakerConfig.parse(None, "x") == BreakerConfig()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ([], "must map dependency names"),
        ({"a": 3}, "tempograph.breakers.a must be an object"),
        ({"a": {"failure": 3}}, "unknown keys ['failure']"),
        ({"a": {"failures": 0}}, "failures must be an integer >= 1"),
        ({"a": {"failures": True}}, "failures must be an integer >= 1"),
        ({"a": {"cool_down": -1}}, "cool_down must be a positive number"),
        ({"a": {"window": "1m"}}, "window must be a positive number"),
        ({"a": {"errors": "ConnectError"}}, "errors must be a list of names"),
        (
            {"a": {"task_queues": ["llm"]}, "b": {"task_queues": ["llm"]}},
            "task queue 'llm' already defaults to breaker 'a'",
        ),
    ],
)
def test_bad_settings_say_what_is_wrong(raw: object, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        BreakerConfig.parse(raw, "langgraph.json")
    assert says in err.value.message


def test_errors_match_by_class_or_base_class_or_application_error_type() -> None:
    settings = BreakerSettings(errors=("ConnectionError", "RateLimited"))
    assert settings.counts(ConnectionRefusedError())  # a subclass of ConnectionError
    assert not settings.counts(ValueError())

    class Raised(Exception):
        type = "RateLimited"  # what an ApplicationError(type=...) carries

    assert settings.counts(Raised())
    assert BreakerSettings().counts(ValueError())  # no list: every error counts


def test_a_node_policy_names_its_breaker() -> None:
    assert apply_overrides(NodePolicy(), {"breaker": "openai"}, "node").breaker == "openai"
    for bad in ("", 3, None):
        with pytest.raises(ConfigError, match="breaker must name the dependency"):
            apply_overrides(NodePolicy(), {"breaker": bad}, "node")
