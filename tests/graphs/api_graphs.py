"""Graphs the HTTP API tests drive: a chain, a chat model that streams, a slow one."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.config import get_stream_writer
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime
from langgraph.types import interrupt


class ChainState(TypedDict, total=False):
    steps: Annotated[list[str], operator.add]


def _step(name: str):  # type: ignore[no-untyped-def]
    def node(state: ChainState) -> dict:
        return {"steps": [name]}

    node.__name__ = name
    return node


chain = StateGraph(ChainState)
for _name in ("a", "b", "c"):
    chain.add_node(_name, _step(_name))
chain.add_edge(START, "a")
chain.add_edge("a", "b")
chain.add_edge("b", "c")
chain.add_edge("c", END)
chain3 = chain.compile()


class ChatState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]


async def respond(state: ChatState) -> dict:
    """A chat model that streams its answer token by token (LangChain's fake model)."""
    model = GenericFakeChatModel(messages=iter([AIMessage("hello from the durable model")]))
    reply = await model.ainvoke(state["messages"])
    get_stream_writer()({"progress": "answered"})
    return {"messages": [reply]}


chat_builder = StateGraph(ChatState)
chat_builder.add_node("respond", respond)
chat_builder.add_edge(START, "respond")
chat_builder.add_edge("respond", END)
chat = chat_builder.compile()


def say(state: ChatState) -> dict:
    """A node that returns a message without a model (as a tool node does)."""
    return {"messages": [AIMessage("said without a model", id="said-1")]}


say_builder = StateGraph(ChatState)
say_builder.add_node("say", say)
say_builder.add_edge(START, "say")
say_builder.add_edge("say", END)
say_graph = say_builder.compile()


@task
def say_in_task(question: str) -> AIMessage:
    return AIMessage(f"a task answers {question!r}", id="task-said-1")


@entrypoint()
async def say_functional(inputs: dict) -> dict:
    """The functional API's form of ``say``: the message comes back from a ``@task``."""
    question = inputs["messages"][-1]["content"]
    return {"messages": [await say_in_task(question)]}


class SlowState(TypedDict, total=False):
    seconds: float
    steps: Annotated[list[str], operator.add]


async def slow(state: SlowState) -> dict:
    if state.get("seconds", 0.0) < 0:
        raise ValueError("seconds must not be negative")
    await asyncio.sleep(state.get("seconds", 0.0))
    return {"steps": ["slow"]}


def after(state: SlowState) -> dict:
    return {"steps": ["after"]}


slow_builder = StateGraph(SlowState)
slow_builder.add_node("slow", slow)
slow_builder.add_node("after", after)
slow_builder.add_edge(START, "slow")
slow_builder.add_edge("slow", "after")
slow_builder.add_edge("after", END)
slow_graph = slow_builder.compile()


async def respond_then_fail_once(state: ChatState, runtime: Runtime[None]) -> dict:
    """Streams its whole answer, then fails its first attempt (a flaky dependency)."""
    model = GenericFakeChatModel(messages=iter([AIMessage("tokens once only", id="flaky-answer")]))
    reply = await model.ainvoke(state["messages"])
    info = runtime.execution_info
    if info is not None and info.node_attempt == 1:
        raise RuntimeError("lost the connection after answering")
    return {"messages": [reply]}


def _responding(respond: Any) -> Any:
    """A chat graph of one node, ``respond``."""
    builder = StateGraph(ChatState)
    builder.add_node("respond", respond)
    builder.add_edge(START, "respond")
    builder.add_edge("respond", END)
    return builder.compile()


flaky_chat = _responding(respond_then_fail_once)


async def answer_anew_after_failing(state: ChatState, runtime: Runtime[None]) -> dict:
    """A real model's retry: each attempt streams a different answer under its own id
    (LangChain's per-call id), and the first attempt fails after streaming its answer."""
    info = runtime.execution_info
    attempt = info.node_attempt if info is not None else 1
    text = "a long first answer that the connection cut" if attempt == 1 else "second try"
    reply = await GenericFakeChatModel(messages=iter([AIMessage(text)])).ainvoke(state["messages"])
    if attempt == 1:
        raise RuntimeError("lost the connection after answering")
    return {"messages": [reply]}


flaky_fresh_chat = _responding(answer_anew_after_failing)


def first(state: SlowState) -> dict:
    return {"steps": ["first"]}


# A quick node, then a slow one: a cancel sent as the run starts finds its first node
# already done or about to be.
quick_then_slow_builder = StateGraph(SlowState)
quick_then_slow_builder.add_node("first", first)
quick_then_slow_builder.add_node("slow", slow)
quick_then_slow_builder.add_node("after", after)
quick_then_slow_builder.add_edge(START, "first")
quick_then_slow_builder.add_edge("first", "slow")
quick_then_slow_builder.add_edge("slow", "after")
quick_then_slow_builder.add_edge("after", END)
quick_then_slow = quick_then_slow_builder.compile()


def ask(state: SlowState) -> dict:
    return {"steps": [f"answered {interrupt('go on?')}"]}


# A question, then a slow node: an operator can end the resumed run mid-node.
ask_then_slow_builder = StateGraph(SlowState)
ask_then_slow_builder.add_node("ask", ask)
ask_then_slow_builder.add_node("slow", slow)
ask_then_slow_builder.add_edge(START, "ask")
ask_then_slow_builder.add_edge("ask", "slow")
ask_then_slow_builder.add_edge("slow", END)
ask_then_slow = ask_then_slow_builder.compile()


def _answer(text: str) -> Any:
    async def answer(state: ChatState) -> dict:
        model = GenericFakeChatModel(messages=iter([AIMessage(text)]))
        return {"messages": [await model.ainvoke(state["messages"])]}

    return answer


agent_builder = StateGraph(ChatState)
agent_builder.add_node("talk", _answer("inner model says hi"))
agent_builder.add_edge(START, "talk")
chat_with_agent_builder = StateGraph(ChatState)
chat_with_agent_builder.add_node("outer", _answer("outer says yo"))
chat_with_agent_builder.add_node("agent", agent_builder.compile())
chat_with_agent_builder.add_edge(START, "outer")
chat_with_agent_builder.add_edge("outer", "agent")
chat_with_agent = chat_with_agent_builder.compile()
