"""The authenticated user as LangGraph code sees it, in the API and in a run's nodes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

# The configurable keys that carry the caller to a run's nodes; a request cannot set them.
USER_KEYS = (
    "langgraph_auth_user",
    "langgraph_auth_user_id",
    "langgraph_auth_permissions",
    "tempograph_tenant",  # the caller's tenant: the run's store is that tenant's
)

TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
"""What a tenant id may be: it names a store namespace label and appears in logs."""


class Role(StrEnum):
    """Built-in roles, each allowed what the one before it is, and more."""

    VIEWER = "viewer"  # reads
    APPROVER = "approver"  # answers interrupts (command.resume)
    OPERATOR = "operator"  # creates and cancels runs, threads, assistants; updates state
    ADMIN = "admin"  # manages API keys, reads the audit log

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


class AuthUser(dict[str, Any]):
    """``user.identity`` and ``user["identity"]`` alike, with ``display_name``,
    ``is_authenticated``, ``permissions`` and whatever else authentication returned. A
    dict, so it travels in a run's config as JSON."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def as_user(value: Any) -> Any:
    """A run's ``langgraph_auth_user`` as nodes get it (attribute and key access)."""
    return AuthUser(value) if isinstance(value, Mapping) else value
