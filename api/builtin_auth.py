"""Built-in auth for deployments without their own: API keys and JWT bearer tokens,
tenants and roles.

- An API key (``tempograph keys create``) arrives as ``x-api-key`` (the SDK's
  ``api_key=``); it names its tenant and role.
- A JWT arrives as ``Authorization: Bearer``; it is checked against a JWKS (a file or a
  URL) with PyJWT: signature, expiry, and the issuer and audience when configured. Its
  tenant and roles come from configurable claims (dotted paths, ``org.tenant``).
- Roles nest: ``viewer`` reads; ``approver`` also answers interrupts (a run whose only
  content is ``command.resume``); ``operator`` also creates, changes, cancels and deletes;
  ``admin`` also manages keys and reads the audit log.
- Tenancy is not a filter a caller can influence: every thread, assistant and run row
  carries its tenant, the routes ask :func:`tempograph.api.auth.tenant` and another
  tenant's resource is a 404. Store namespaces are kept under a first label naming the
  tenant, which callers never see.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from fastapi import HTTPException

from tempograph.api.auth import Caller, CustomAuth, Policy, Refused, load_auth
from tempograph.errors import ConfigError
from tempograph.identity import TENANT, AuthUser, Role
from tempograph.keys import KeyStore
from tempograph.registry import ProjectConfig
from tempograph.settings import Settings

logger = logging.getLogger(__name__)

_READS = {"read", "search", "get", "list_namespaces"}
_ADMIN_RESOURCES = {"keys", "audit"}


@dataclass(frozen=True)
class JwtSettings:
    jwks: str  # a file path or an http(s) URL
    issuer: str | None = None
    audience: str | None = None
    tenant_claim: str = "tenant"
    roles_claim: str = "roles"
    algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256", "EdDSA")


class JwtVerifier:
    """Checks bearer tokens against a JWKS: from a file, read once; from a URL, fetched
    and cached by PyJWT's client (refetched for an unknown ``kid``)."""

    def __init__(self, settings: JwtSettings) -> None:
        self.settings = settings
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
        if settings.jwks.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(settings.jwks, cache_keys=True, lifespan=300)
        else:
            self._keys = jwt.PyJWKSet.from_json(Path(settings.jwks).read_text(encoding="utf-8"))

    async def claims(self, token: str) -> dict[str, Any]:
        """The token's claims; :class:`jwt.InvalidTokenError` when it does not verify."""
        if self._client is not None:
            key = (await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)).key
        else:
            assert self._keys is not None
            kid = jwt.get_unverified_header(token).get("kid")
            matching = [k for k in self._keys.keys if kid is None or k.key_id == kid]
            if not matching:
                raise jwt.InvalidTokenError(f"no key {kid!r} in the JWKS")
            key = matching[0].key
        options = {"require": ["exp", "sub"]}
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(self.settings.algorithms),
            issuer=self.settings.issuer,
            audience=self.settings.audience,
            options=options,  # type: ignore[arg-type]
        )
        return claims


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class BuiltinAuth:
    """API keys and/or JWTs, with tenants and roles."""

    kind = "builtin"

    def __init__(self, keys: bool, tokens: JwtVerifier | None) -> None:
        self.keys = keys
        self.tokens = tokens

    async def authenticate(self, scope: dict[str, Any]) -> Caller:
        headers = dict(scope.get("headers", ()))
        key = headers.get(b"x-api-key")
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if key is not None and self.keys:
            return await self._by_key(scope, key.decode("latin-1"))
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token and self.tokens is not None:
            return await self._by_token(token.strip())
        accepted = " or ".join(
            what
            for what, on in (
                ("an API key as x-api-key", self.keys),
                ("a bearer token", self.tokens is not None),
            )
            if on
        )
        if key is not None or authorization:
            # A credential of a kind this server does not take: say so, not "missing".
            sent = "an x-api-key header" if key is not None else f"{scheme or 'an'} authorization"
            raise Refused(401, f"Credentials not accepted here ({sent}): send {accepted}")
        raise Refused(401, f"Missing credentials: send {accepted}")

    async def _by_key(self, scope: dict[str, Any], key: str) -> Caller:
        pool = await scope["app"].state.tempograph.database.pool()
        holder = await KeyStore(pool).verify(key)
        if holder is None:
            raise Refused(401, "Invalid or revoked API key")
        identity = f"key:{holder.key_id}"
        user = AuthUser(
            identity=identity,
            display_name=holder.name or identity,
            is_authenticated=True,
            permissions=[holder.role.value],
            tenant=holder.tenant_id,
            role=holder.role.value,
        )
        return Caller(
            user, (holder.role.value,), holder.tenant_id, holder.role, key_id=holder.key_id
        )

    async def _by_token(self, token: str) -> Caller:
        assert self.tokens is not None
        settings = self.tokens.settings
        try:
            claims = await self.tokens.claims(token)
        except (jwt.PyJWTError, ValueError) as err:
            # PyJWT's messages name the failed check, never the token.
            raise Refused(401, f"Invalid token: {err}") from None
        tenant = _claim(claims, settings.tenant_claim)
        if not isinstance(tenant, str) or not TENANT.fullmatch(tenant):
            raise Refused(403, f"The token's {settings.tenant_claim!r} claim names no tenant")
        roles = _claim(claims, settings.roles_claim)
        names = [roles] if isinstance(roles, str) else roles if isinstance(roles, list) else []
        held = [Role(r) for r in names if r in {role.value for role in Role}]
        if not held:
            raise Refused(
                403,
                f"The token's {settings.roles_claim!r} claim holds none of "
                f"{[r.value for r in Role]}",
            )
        role = max(held, key=list(Role).index)
        user = AuthUser(
            identity=str(claims["sub"]),
            display_name=str(claims.get("name") or claims["sub"]),
            is_authenticated=True,
            permissions=[role.value],
            tenant=tenant,
            role=role.value,
        )
        return Caller(user, (role.value,), tenant, role)

    async def authorize(
        self, caller: Caller, resource: str, action: str, value: dict[str, Any]
    ) -> dict[str, Any] | None:
        needed = required_role(resource, action, value)
        assert caller.role is not None
        if not caller.role.allows(needed):
            raise HTTPException(
                403, f"Forbidden: {resource}.{action} needs the {needed.value} role"
            )
        return None


def required_role(resource: str, action: str, value: dict[str, Any]) -> Role:
    """The least role that may do ``action`` on ``resource``."""
    if resource in _ADMIN_RESOURCES:
        return Role.ADMIN
    if resource == "codec":  # reads any run's payloads: see tempograph.api.routes.codec
        return Role.ADMIN
    if action in _READS:
        return Role.VIEWER
    if resource == "threads" and action == "create_run" and _only_a_resume(value):
        return Role.APPROVER
    return Role.OPERATOR


# What a request answering an interrupt may set beside ``command.resume``: how it is
# delivered, nothing that changes what runs (config, checkpoint, strategy, webhook...).
_ANSWER_FIELDS = {"assistant_id", "command", "stream_mode", "stream_subgraphs", "on_disconnect"}


def _only_a_resume(value: dict[str, Any]) -> bool:
    """The request answers an interrupt and does nothing else (the approver's right)."""
    kwargs = value.get("kwargs") or {}
    command = kwargs.get("command") or {}
    if not isinstance(command, dict):
        command = command.model_dump() if hasattr(command, "model_dump") else dict(command)
    others = {k for k, v in command.items() if k != "resume" and v not in (None, [], {})}
    answers = command.get("resume") is not None and not others
    return answers and set(kwargs) <= _ANSWER_FIELDS


def configured_policy(settings: Settings, config: ProjectConfig) -> Policy | None:
    """The API's auth: langgraph.json's ``"auth"`` (LangGraph custom auth) or
    ``TEMPOGRAPH_AUTH`` (built-in), not both; None for none."""
    if config.auth and settings.auth:
        raise ConfigError(
            f'{config.path.name} has an "auth" section and TEMPOGRAPH_AUTH is set: choose one'
        )
    if config.auth:
        return CustomAuth(load_auth(config.auth, config.path.parent))
    if not settings.auth:
        return None
    unknown = set(settings.auth) - {"keys", "jwt"}
    if unknown:
        raise ConfigError(f"TEMPOGRAPH_AUTH: unknown {sorted(unknown)}; use keys, jwt or both")
    tokens = None
    if "jwt" in settings.auth:
        if not settings.jwt_jwks:
            raise ConfigError("TEMPOGRAPH_AUTH=jwt needs TEMPOGRAPH_JWT_JWKS (a file or a URL)")
        try:
            tokens = JwtVerifier(
                JwtSettings(
                    jwks=settings.jwt_jwks,
                    issuer=settings.jwt_issuer,
                    audience=settings.jwt_audience,
                    tenant_claim=settings.jwt_tenant_claim,
                    roles_claim=settings.jwt_roles_claim,
                )
            )
        except (OSError, jwt.PyJWTError, ValueError) as err:
            raise ConfigError(f"TEMPOGRAPH_JWT_JWKS: cannot read a JWKS: {err}") from None
    return BuiltinAuth("keys" in settings.auth, tokens)
