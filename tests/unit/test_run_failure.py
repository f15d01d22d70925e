"""How an error raised in workflow code (a router, a reducer, an entrypoint) fails its run."""

from __future__ import annotations

from langgraph.errors import EmptyInputError, GraphRecursionError
from temporalio.exceptions import ApplicationError

from tempograph.workflows.outcome import as_failure
from tempograph.workflows.types import ErrorType


def test_the_type_and_the_message_are_said_once_each() -> None:
    failure = as_failure(EmptyInputError("Received no input for __start__"))
    assert (failure.type, failure.message) == ("EmptyInputError", "Received no input for __start__")
    assert failure.non_retryable


def test_an_error_without_text_is_named_by_its_type() -> None:
    failure = as_failure(KeyError())
    assert (failure.type, failure.message) == ("KeyError", "KeyError")


def test_a_nodes_failure_and_the_recursion_limit_keep_their_own_form() -> None:
    node = ApplicationError("boom", type="ValueError")
    assert as_failure(node) is node
    limit = as_failure(GraphRecursionError("Recursion limit of 3 reached"))
    assert limit.type == ErrorType.RECURSION_LIMIT


def test_a_huge_error_in_workflow_code_is_cut_as_a_nodes_is() -> None:
    """A router or reducer raising a 5 MB message: the run's failure (and so the run's and
    the thread's `error`) keeps its start and says how long it was."""
    failure = as_failure(ValueError("W" * 5_000_000))
    assert failure.type == "ValueError"
    assert failure.message.startswith("W" * 2000)
    assert failure.message.endswith("... (5000000 characters)")
    assert len(failure.message) < 2100
