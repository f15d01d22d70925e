"""A graph whose node reports who started the run, as LangGraph Server's nodes read it."""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    question: str
    identity: str
    display_name: str
    permissions: list[str]
    user_id: str
    visitors: list[str]


def whoami(state: State, config: RunnableConfig) -> dict[str, Any]:
    configurable = config["configurable"]
    user = configurable["langgraph_auth_user"]
    # The memory store as the caller's tenant sees it (all of it without tenants).
    store = get_store()
    store.put(("visits",), user.identity, {"by": user.identity})
    return {
        "visitors": sorted(item.key for item in store.search(("visits",), limit=100)),
        "identity": user.identity,  # attribute access, as on LangGraph Server
        "display_name": user["display_name"],  # and key access
        "permissions": list(configurable["langgraph_auth_permissions"]),
        "user_id": configurable["langgraph_auth_user_id"],
    }


builder = StateGraph(State)
builder.add_node("whoami", whoami)
builder.add_edge(START, "whoami")
builder.add_edge("whoami", END)
graph = builder.compile()
