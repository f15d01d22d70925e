"""A tool-calling agent: a deterministic fake chat model, ToolNode and tools_condition."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import InjectedState, ToolNode, tools_condition
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    # Class names of the messages each agent step received, in order.
    seen: Annotated[list[list[str]], operator.add]


def _message_kinds(messages: Sequence[Any]) -> list[str]:
    """Class names of ``messages``; refuses anything that is not a LangChain message."""
    for message in messages:
        if not isinstance(message, BaseMessage):
            raise TypeError(f"got {type(message).__name__} instead of a LangChain message")
    return [type(m).__name__ for m in messages]


class ScriptedToolModel(BaseChatModel):
    """Asks for ``multiply(6, 7)`` first; answers with the tool's result once it is back.

    Decides from the conversation alone, so a retried or replayed call answers the same.
    """

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-model"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        _message_kinds(messages)
        turn = len(messages)
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(content=f"The answer is {last.content}.", id=f"ai-{turn}")
        else:
            reply = AIMessage(
                content="",
                id=f"ai-{turn}",
                tool_calls=[
                    {
                        "name": "multiply",
                        "args": {"a": 6, "b": 7},
                        "id": "call-1",
                        "type": "tool_call",
                    }
                ],
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])


@tool
def multiply(
    a: int,
    b: int,
    tool_call_id: Annotated[str, InjectedToolCallId],
    state: Annotated[dict, InjectedState],
) -> ToolMessage:
    """Multiply two integers."""
    kinds = ",".join(_message_kinds(state["messages"]))
    return ToolMessage(
        content=str(a * b),
        tool_call_id=tool_call_id,
        id=f"tool-{tool_call_id}",
        artifact={"seen": kinds},
    )


model = ScriptedToolModel()
tools = [multiply]


def agent(state: State) -> dict[str, Any]:
    kinds = _message_kinds(state["messages"])
    response = model.bind_tools(tools).invoke(state["messages"])
    return {"messages": [response], "seen": [kinds]}


builder = StateGraph(State)
builder.add_node("agent", agent)
builder.add_node("tools", ToolNode(tools))
builder.add_edge(START, "agent")
builder.add_conditional_edges("agent", tools_condition)
builder.add_edge("tools", "agent")
graph = builder.compile()
