"""What one attempt of a node needs and decides, wherever it runs (in the worker, or in a
sandboxed process): the scratchpad ``interrupt()`` reads, the error message the history
keeps, and whether Temporal should retry an error."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langgraph._internal._scratchpad import PregelScratchpad

from tempograph.workflows.outcome import cut_message


def new_scratchpad(
    step: int,
    stop: int,
    resume: Sequence[Any],
    null_resume: Any,
    on_consume: Callable[[], None],
) -> PregelScratchpad:
    """What LangGraph's ``interrupt()`` reads in a node: the answers to its interrupts so
    far (``resume``, in order) and a null-resume answer, whose use ``on_consume`` hears."""
    left = [null_resume]

    def get_null_resume(consume: bool = False) -> Any:
        value = left[0]
        if consume and value is not None:
            left[0] = None
            on_consume()
        return value

    counters = {"interrupt": 0, "call": 0, "subgraph": 0}

    def counter(name: str) -> Callable[[], int]:
        def next_value() -> int:
            value = counters[name]
            counters[name] += 1
            return value

        return next_value

    return PregelScratchpad(
        step=step,
        stop=stop,
        call_counter=counter("call"),
        interrupt_counter=counter("interrupt"),
        get_null_resume=get_null_resume,
        resume=list(resume),
        subgraph_counter=counter("subgraph"),
    )


# Errors a retry cannot fix: a bug or bad data in the node. LangGraph's own default
# ``retry_on`` declines these too; RuntimeError and OSError stay retryable (flaky
# dependencies raise them).
DEFAULT_NON_RETRYABLE: tuple[type[BaseException], ...] = (
    TypeError,
    AttributeError,
    NameError,
    SyntaxError,
    ImportError,
    LookupError,
    ArithmeticError,
    AssertionError,
    NotImplementedError,
    ValueError,
)


def error_message(exc: Exception) -> str:
    """A node's error message, cut as a run's failure is (workflows/outcome.py)."""
    return cut_message(str(exc) or type(exc).__name__)


def is_retryable(exc: Exception, retry_on: Sequence[Any], non_retryable: Sequence[str]) -> bool:
    """Whether Temporal should retry ``exc``: the node's LangGraph ``retry_on`` decides if
    it has one; else the default non-retryable classes and configured names (by class
    or any base class name) decline."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & set(non_retryable):
        return False
    if retry_on:
        return any(_matches(rule, exc) for rule in retry_on)
    return not isinstance(exc, DEFAULT_NON_RETRYABLE)


def _matches(rule: Any, exc: Exception) -> bool:
    if isinstance(rule, type) and issubclass(rule, BaseException):
        return isinstance(exc, rule)
    if isinstance(rule, tuple):
        return isinstance(exc, rule)
    if callable(rule):
        return bool(rule(exc))
    return True
