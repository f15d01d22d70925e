"""One tenant's view of the memory store: its namespaces live under a first label naming
the tenant, which it never sees. The API's store routes and a run's nodes use it when
built-in auth gives the caller a tenant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchOp,
)


def tenant_label(tenant: str) -> str:
    """The first namespace label of a tenant's items (tenant ids hold no '.')."""
    return f"tenant:{tenant}"


class TenantStore(BaseStore):
    """``store`` as ``tenant`` sees it."""

    def __init__(self, store: BaseStore, tenant: str) -> None:
        self._store = store
        self._label = tenant_label(tenant)

    def _op(self, op: Op) -> Op:
        label = self._label
        if isinstance(op, GetOp | PutOp):
            return op._replace(namespace=(label, *op.namespace))
        if isinstance(op, SearchOp):
            return op._replace(namespace_prefix=(label, *op.namespace_prefix))
        if isinstance(op, ListNamespacesOp):
            conditions = list(op.match_conditions or ())
            prefixes = [c for c in conditions if c.match_type == "prefix"]
            others = [c for c in conditions if c.match_type != "prefix"]
            if prefixes:
                prefixes = [c._replace(path=(label, *c.path)) for c in prefixes]
            else:
                prefixes = [MatchCondition(match_type="prefix", path=(label,))]
            depth = op.max_depth + 1 if op.max_depth is not None else None
            return op._replace(match_conditions=tuple(prefixes + others), max_depth=depth)
        raise TypeError(f"unknown store operation {type(op).__name__}")

    def _result(self, result: Result) -> Result:
        if isinstance(result, Item):
            result.namespace = result.namespace[1:]
            return result
        if isinstance(result, list):
            out: list[Any] = []
            for entry in result:
                if isinstance(entry, Item):
                    entry.namespace = entry.namespace[1:]
                    out.append(entry)
                elif isinstance(entry, tuple) and len(entry) > 1:
                    out.append(entry[1:])
            return out
        return result

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return [self._result(r) for r in self._store.batch([self._op(op) for op in ops])]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        found = await self._store.abatch([self._op(op) for op in ops])
        return [self._result(r) for r in found]
