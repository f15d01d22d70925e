"""LangGraph custom auth: ``"auth": {"path": "./auth.py:auth"}`` in langgraph.json.

The file's :class:`langgraph_sdk.Auth` is applied as LangGraph Server applies it:

- ``@auth.authenticate`` runs on every request but ``GET /ok`` (:class:`Authenticate`),
  with the parameters it names (``authorization``, ``headers``, ``path``, ``method``,
  ``query_params``, ``path_params``, ``scope``, ``scopes``, ``request``). What it returns
  is the user; ``Auth.exceptions.HTTPException`` answers with its own status.
- Before each action a route calls :func:`authorize` with the resource, the action and
  the value LangGraph passes for it; the most specific handler decides (``threads.create``,
  then ``threads``, then ``*.create``, then ``@auth.on``). ``None``/``True`` allow,
  ``False`` or a failed ``assert`` is 403, a dict is a filter on the resource's metadata
  (:mod:`tempograph.api.auth_filters`: for one resource, and in SQL for a search). A
  handler may change the value it is given (stamp ``metadata.owner``); the route uses
  the changed value.
- Runs carry the user to their nodes as ``config["configurable"]["langgraph_auth_user"]``
  (with ``langgraph_auth_user_id`` and ``langgraph_auth_permissions``).

The caller lives in a context variable for the request, so services deep in a route ask
:func:`authorize` without every signature carrying it.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from langgraph_sdk import Auth
from starlette.datastructures import QueryParams
from starlette.requests import Request

from tempograph.api.auth_filters import check_filter
from tempograph.errors import ConfigError
from tempograph.identity import USER_KEYS, AuthUser, Role
from tempograph.registry import import_file

logger = logging.getLogger(__name__)

SCOPE_CALLER = "tempograph.caller"  # where the request's scope keeps its caller
_OPEN_PATHS = {"/ok"}  # health checks answer without credentials


def _open(path: str) -> bool:
    # The console's page and script hold no data: what they show comes from the API,
    # with the credentials the person enters.
    return path in _OPEN_PATHS or path == "/console" or path.startswith("/console/")


_PARAMETERS = {
    "request",
    "authorization",
    "headers",
    "path",
    "method",
    "query_params",
    "path_params",
    "scope",
    "scopes",
    "user",
}


ANONYMOUS = AuthUser(identity="", display_name="", is_authenticated=False, permissions=[])


@dataclass(frozen=True)
class Caller:
    """Who makes the request: the user and the permissions they hold; with built-in auth
    also their tenant, role and API key."""

    user: AuthUser
    permissions: tuple[str, ...] = field(default=())
    tenant: str | None = None
    role: Role | None = None
    key_id: str | None = None

    def configurable(self) -> dict[str, Any]:
        """The run config's keys that carry the caller to its nodes (JSON only)."""
        user = json.loads(json.dumps(dict(self.user), default=str))
        keys = {
            "langgraph_auth_user": user,
            "langgraph_auth_user_id": self.user.get("identity", ""),
            "langgraph_auth_permissions": list(self.permissions),
        }
        if self.tenant is not None:
            keys["tempograph_tenant"] = self.tenant
        return keys

    def to_json(self) -> dict[str, Any]:
        """The caller as stored with what acts for them later (a cron's runs)."""
        return {
            "user": json.loads(json.dumps(dict(self.user), default=str)),
            "permissions": list(self.permissions),
            "tenant": self.tenant,
            "role": self.role.value if self.role is not None else None,
            "key_id": self.key_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Caller:
        role = data.get("role")
        return cls(
            AuthUser(data["user"]),
            tuple(data.get("permissions") or ()),
            data.get("tenant"),
            Role(role) if role else None,
            data.get("key_id"),
        )


class Refused(Exception):
    """Authentication failed: answer ``status`` with ``{"detail": detail}``."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


class Policy(Protocol):
    """An auth configuration: who calls, and what they may do."""

    async def authenticate(self, scope: dict[str, Any]) -> Caller: ...

    async def authorize(
        self, caller: Caller, resource: str, action: str, value: dict[str, Any]
    ) -> dict[str, Any] | None: ...


_auth: contextvars.ContextVar[tuple[Policy, Caller] | None] = contextvars.ContextVar(
    "tempograph_auth", default=None
)


def current() -> Caller | None:
    """The caller of the request being served, when the API has an auth configuration."""
    found = _auth.get()
    return found[1] if found is not None else None


@contextlib.contextmanager
def acting_as(policy: Policy | None, caller: Caller | None) -> Iterator[None]:
    """Serve what follows as ``caller`` would be served (outside a request: a cron's
    run, made for whoever created the cron). Nothing changes without both."""
    token = _auth.set((policy, caller)) if policy is not None and caller is not None else None
    try:
        yield
    finally:
        if token is not None:
            _auth.reset(token)


def tenant() -> str | None:
    """The caller's tenant with built-in auth; None when tenants do not apply."""
    caller = current()
    return caller.tenant if caller is not None else None


# -- loading ----------------------------------------------------------------------------


def load_auth(spec: Mapping[str, Any], base: Path) -> Auth:
    """The ``Auth`` object langgraph.json's ``"auth"`` section names (``path``:
    ``"./file.py:attr"``, relative to the file); :class:`ConfigError` says what is wrong."""
    ref = spec.get("path")
    if not isinstance(ref, str) or ":" not in ref:
        raise ConfigError('"auth": {"path": "./auth.py:auth"} is needed (a file and an attribute)')
    file_part, _, attr = ref.rpartition(":")
    path = (base / file_part).resolve()
    if not path.exists():
        raise ConfigError(f'"auth": {path} does not exist')
    try:
        module = import_file(path)
    except Exception as err:  # noqa: BLE001 - whatever the user's file raises
        raise ConfigError(f'"auth": import of {path} failed: {type(err).__name__}: {err}') from None
    found = getattr(module, attr, None)
    if not isinstance(found, Auth):
        raise ConfigError(f'"auth": {path}:{attr} is not a langgraph_sdk.Auth object')
    return found


# -- authentication ---------------------------------------------------------------------


def normalize(result: Any) -> Caller:
    """What an authenticate handler returned, as LangGraph reads it: ``(permissions,
    user)``, a user with ``permissions``, a dict with ``identity``, an object with
    ``identity``, or a plain string (the identity)."""
    permissions: Any = []
    user: Any = result
    if isinstance(result, tuple):
        if len(result) != 2:
            raise ValueError("an authenticate handler's tuple must be (permissions, user)")
        permissions, user = result
    elif isinstance(result, Mapping) and "permissions" in result:
        permissions = result["permissions"]
    elif hasattr(result, "permissions"):
        permissions = result.permissions
    if isinstance(user, str):
        fields: dict[str, Any] = {"identity": user}
    elif isinstance(user, Mapping) and "identity" in user:
        fields = dict(user)
    elif hasattr(user, "identity"):
        dump = getattr(user, "model_dump", None)
        fields = dict(dump()) if callable(dump) else {}
        for name in ("identity", "display_name", "is_authenticated"):
            if hasattr(user, name):
                fields[name] = getattr(user, name)
    else:
        raise ValueError(
            "an authenticate handler must return a user: a string identity, a dict with "
            f"'identity', or an object with an identity attribute; got {type(user).__name__}"
        )
    if not isinstance(fields.get("identity"), str):
        raise ValueError("the user's identity must be a string")
    granted = tuple(str(p) for p in (permissions or ()))
    fields.setdefault("display_name", fields["identity"])
    fields.setdefault("is_authenticated", True)
    fields["permissions"] = list(granted)
    return Caller(AuthUser(fields), granted)


def _arguments(scope: dict[str, Any], names: set[str]) -> dict[str, Any]:
    headers = {k: v for k, v in scope.get("headers", ())}
    available: dict[str, Any] = {
        "scope": scope,
        "path": scope["path"],
        "method": scope.get("method", ""),
        "headers": headers,
        "query_params": QueryParams(scope.get("query_string", b"")),
        "path_params": scope.get("path_params", {}),
        "scopes": [],
        "user": None,
    }
    authorization = headers.get(b"authorization")
    available["authorization"] = authorization.decode("latin-1") if authorization else None
    if "request" in names:
        available["request"] = Request(scope)
    return {name: available[name] for name in names}


class Authenticate:
    """ASGI middleware: asks the policy who calls and keeps the caller for the request;
    a refusal is the response, ``{"detail": ...}`` with its status."""

    def __init__(self, app: Any, policy: Policy, skip: Callable[[Any], bool] | None = None) -> None:
        self.app = app
        self.policy = policy
        self.skip = skip  # requests it does not cover (a project's own routes)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or _open(scope["path"])
            or (self.skip is not None and self.skip(scope))
        ):
            await self.app(scope, receive, send)
            return
        try:
            caller = await self.policy.authenticate(scope)
        except Refused as err:
            response = JSONResponse(
                {"detail": err.detail}, status_code=err.status, headers=err.headers
            )
            await response(scope, receive, send)
            return
        scope[SCOPE_CALLER] = caller  # for the audit log, which records after the call
        token = _auth.set((self.policy, caller))
        try:
            await self.app(scope, receive, send)
        finally:
            _auth.reset(token)


async def authorize(resource: str, action: str, value: dict[str, Any]) -> dict[str, Any] | None:
    """Ask the auth configuration whether the caller may do ``action`` on ``resource``
    with ``value`` (which a handler may change in place). Returns a filter on the
    resource's metadata, or None for none; raises 403 (or a handler's own status)."""
    found = _auth.get()
    if found is None:
        return None
    policy, caller = found
    return await policy.authorize(caller, resource, action, value)


class CustomAuth:
    """LangGraph custom auth: the project's ``langgraph_sdk.Auth``."""

    kind = "custom"

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        handler = auth._authenticate_handler
        self.handler = handler
        self.names = set(inspect.signature(handler).parameters) & _PARAMETERS if handler else set()

    async def authenticate(self, scope: dict[str, Any]) -> Caller:
        if self.handler is None:
            return Caller(ANONYMOUS)
        try:
            result: Any = self.handler(**_arguments(scope, self.names))
            if inspect.isawaitable(result):
                result = await result
            return normalize(result)
        except Auth.exceptions.HTTPException as err:
            raise Refused(err.status_code, str(err.detail), err.headers) from None
        except AssertionError as err:  # LangGraph's examples `assert authorization`
            raise Refused(401, str(err) or "Unauthorized") from None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            # A handler parsing a malformed or missing header (`scheme, token =
            # authorization.split()`): the client's credentials are bad, not the server.
            logger.info("the authenticate handler refused with %s", type(err).__name__)
            raise Refused(401, "Invalid credentials") from None
        except Exception as err:  # noqa: BLE001 - a broken handler is a 500, not a crash
            # Its type only: the message may quote the credentials it was given.
            logger.error("the authenticate handler raised %s", type(err).__name__)
            raise Refused(
                500, "Authentication failed: the server's auth handler raised an error"
            ) from None

    async def authorize(
        self, caller: Caller, resource: str, action: str, value: dict[str, Any]
    ) -> dict[str, Any] | None:
        handler = _handler(self.auth, resource, action)
        if handler is None:
            return None
        ctx = Auth.types.AuthContext(
            user=caller.user,
            permissions=list(caller.permissions),
            resource=resource,  # type: ignore[arg-type]
            action=action,  # type: ignore[arg-type]
        )
        try:
            result = await handler(ctx=ctx, value=value)
        except Auth.exceptions.HTTPException as err:
            raise HTTPException(err.status_code, err.detail, dict(err.headers or {})) from None
        except AssertionError as err:
            raise HTTPException(403, str(err) or "Forbidden") from None
        if result is None or result is True:
            return None
        if result is False:
            raise HTTPException(403, "Forbidden")
        if not isinstance(result, dict):
            raise HTTPException(
                500,
                f"The auth handler for {resource}.{action} returned {type(result).__name__}; "
                "expected None, a bool or a filter dict",
            )
        check_filter(result, 0)
        return result or None


def _handler(auth: Auth, resource: str, action: str) -> Any:
    handlers: dict[tuple[str, str], list[Any]] = auth._handlers
    for key in ((resource, action), (resource, "*"), ("*", action), ("*", "*")):
        if handlers.get(key):
            return handlers[key][-1]
    return auth._global_handlers[-1] if auth._global_handlers else None


def strip_user_keys(configurable: dict[str, Any]) -> dict[str, Any]:
    """``configurable`` without the keys only the server sets (the caller's identity)."""
    return {k: v for k, v in configurable.items() if k not in USER_KEYS}


def require_operator(state: Any, why: str) -> None:
    """For what crosses tenants (the codec, metrics): open without auth (``tempograph
    up``); with built-in auth, admins of ``TEMPOGRAPH_OPERATOR_TENANT``; with custom auth,
    callers with the ``admin`` permission. Else 403 saying ``why``."""
    caller = current()
    if caller is None:
        return
    if caller.tenant is not None:
        operators = state.operator_tenant
        if caller.role is not Role.ADMIN or not operators or caller.tenant != operators:
            raise HTTPException(
                403,
                f"Forbidden: {why}; it is for admins of the operators' tenant"
                " (TEMPOGRAPH_OPERATOR_TENANT)",
            )
    elif "admin" not in caller.permissions:
        raise HTTPException(403, f"Forbidden: {why}; it needs the admin permission")
