"""The same small graph over three state types: TypedDict, pydantic model, dataclass."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel


class DictState(TypedDict, total=False):
    name: str
    score: int
    tags: Annotated[list[str], operator.add]
    seen: Annotated[list[str], operator.add]


def dict_greet(state: DictState) -> dict:
    return {"name": state["name"].title(), "tags": ["greeted"], "seen": [type(state).__name__]}


def dict_score(state: DictState) -> dict:
    return {"score": len(state["name"]) * 10, "tags": ["scored"], "seen": [type(state).__name__]}


dict_builder = StateGraph(DictState)
dict_builder.add_node("greet", dict_greet)
dict_builder.add_node("score", dict_score)
dict_builder.add_edge(START, "greet")
dict_builder.add_edge("greet", "score")
dict_builder.add_edge("score", END)
dict_graph = dict_builder.compile()


class Profile(BaseModel):
    city: str = ""
    visits: int = 0


class ModelState(BaseModel):
    name: str
    score: float = 0.0
    profile: Profile = Profile()
    tags: Annotated[list[str], operator.add] = []
    seen: Annotated[list[str], operator.add] = []


def model_greet(state: ModelState) -> dict:
    # Attribute access only works if the node really received the model.
    return {
        "name": state.name.title(),
        "profile": Profile(city=state.profile.city.upper(), visits=state.profile.visits + 1),
        "tags": ["greeted"],
        "seen": [type(state).__name__, type(state.profile).__name__],
    }


def model_score(state: ModelState) -> dict:
    return {"score": state.profile.visits * 1.5, "tags": ["scored"], "seen": [type(state).__name__]}


model_builder = StateGraph(ModelState)
model_builder.add_node("greet", model_greet)
model_builder.add_node("score", model_score)
model_builder.add_edge(START, "greet")
model_builder.add_edge("greet", "score")
model_builder.add_edge("score", END)
model_graph = model_builder.compile()


@dataclass
class DataState:
    name: str
    score: int = 0
    tags: Annotated[list[str], operator.add] = field(default_factory=list)
    seen: Annotated[list[str], operator.add] = field(default_factory=list)


def data_greet(state: DataState) -> dict:
    return {"name": state.name.title(), "tags": ["greeted"], "seen": [type(state).__name__]}


def data_score(state: DataState) -> dict:
    return {"score": len(state.name) * 10, "tags": ["scored"], "seen": [type(state).__name__]}


data_builder = StateGraph(DataState)
data_builder.add_node("greet", data_greet)
data_builder.add_node("score", data_score)
data_builder.add_edge(START, "greet")
data_builder.add_edge("greet", "score")
data_builder.add_edge("score", END)
data_graph = data_builder.compile()
