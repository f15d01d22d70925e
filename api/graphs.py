"""The graphs this API serves: ids, system assistants, drawings and schemas."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid5

from tempograph.schemas import schema_from_hints

# LangGraph Server's namespace for system assistant ids: the same graph gets the same
# assistant id here as there.
_ASSISTANT_NAMESPACE = UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


def system_assistant_id(graph_id: str) -> UUID:
    return uuid5(_ASSISTANT_NAMESPACE, graph_id)


@dataclass
class GraphCatalog:
    """Compiled graphs by id: the user's objects, described here, and read and updated
    with LangGraph's own ``get_state`` / ``update_state`` on the thread's checkpoints
    (nodes never run here); and their durable forms, whose input schemas check runs."""

    graphs: dict[str, Any]
    durable: dict[str, Any] = field(default_factory=dict)

    def ids(self) -> list[str]:
        return sorted(self.graphs)

    def name(self, graph_id: str) -> str:
        name = getattr(self.graphs[graph_id], "name", None)
        return graph_id if not name or name == "LangGraph" else str(name)

    def drawing(self, graph_id: str, xray: bool | int) -> dict[str, Any]:
        """Nodes and edges as LangGraph Server draws them (RemoteGraph parses this)."""
        drawn = self.graphs[graph_id].get_graph(xray=xray).to_json()
        nodes = []
        for node in drawn["nodes"]:
            data = node.get("data")
            if isinstance(data, dict):
                data = {k: v for k, v in data.items() if k != "id"}
            nodes.append({**node, **({"data": data} if data is not None else {})})
        edges = [
            {k: v for k, v in edge.items() if k in ("source", "target", "data", "conditional")}
            for edge in drawn["edges"]
        ]
        return {"nodes": nodes, "edges": edges}

    def schemas(self, graph_id: str) -> dict[str, Any]:
        return {"graph_id": graph_id, **graph_schemas(self.graphs[graph_id])}

    def subgraphs(self, graph_id: str, namespace: str | None, recurse: bool) -> dict[str, Any]:
        """The schemas of the graph's subgraphs by namespace, as LangGraph Server lists
        them (``namespace``: that one only; ``recurse``: theirs too)."""
        found = self.graphs[graph_id].get_subgraphs(namespace=namespace, recurse=recurse)
        return {ns: graph_schemas(sub) for ns, sub in found}


def graph_schemas(graph: Any) -> dict[str, Any]:
    """A graph's input, output, state, config and context schemas (each null when the
    graph cannot say)."""
    builder = getattr(graph, "builder", None)
    return {
        "input_schema": _schema(graph.get_input_jsonschema, getattr(builder, "input_schema", None)),
        "output_schema": _schema(
            graph.get_output_jsonschema, getattr(builder, "output_schema", None)
        ),
        "state_schema": _schema(None, getattr(builder, "state_schema", None)),
        "config_schema": _schema(getattr(graph, "get_config_jsonschema", None), None),
        "context_schema": _schema(
            getattr(graph, "get_context_jsonschema", None),
            getattr(builder, "context_schema", None),
        ),
    }


def _schema(method: Any, schema_type: Any) -> dict[str, Any] | None:
    """The graph's own JSON schema, else one built key by key from the type's hints
    (pydantic refuses ``typing.TypedDict`` before Python 3.12), else null."""
    if method is not None:
        try:
            with warnings.catch_warnings():
                # get_config_jsonschema is deprecated in LangGraph 1.x, yet LangGraph
                # Server's clients still read config_schema.
                warnings.simplefilter("ignore", DeprecationWarning)
                result: dict[str, Any] = method()
            return result
        except Exception:  # noqa: BLE001 - fall back below
            pass
    return schema_from_hints(schema_type)
