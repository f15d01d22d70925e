"""The authenticated user as LangGraph code sees it, in the API and in a run's nodes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The configurable keys that carry the caller to a run's nodes; a request cannot set them.
USER_KEYS = ("langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions")


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
