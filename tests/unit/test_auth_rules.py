"""Pure rules of LangGraph custom auth: what a handler's return means, which handler
decides, and which metadata a filter lets through."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException
from langgraph_sdk import Auth

from tempograph.api import auth as api_auth
from tempograph.api.auth import Caller, CustomAuth, normalize
from tempograph.api.auth_filters import matches
from tempograph.identity import AuthUser


def test_authenticate_results_are_read_as_langgraph_reads_them() -> None:
    assert normalize("ann").user == {
        "identity": "ann",
        "display_name": "ann",
        "is_authenticated": True,
        "permissions": [],
    }
    caller = normalize((["read"], {"identity": "ann", "org": "x"}))
    assert caller.permissions == ("read",)
    assert caller.user.org == "x" and caller.user["identity"] == "ann"
    caller = normalize({"identity": "ann", "permissions": ["a", "b"], "display_name": "Ann"})
    assert caller.permissions == ("a", "b") and caller.user.display_name == "Ann"
    obj = SimpleNamespace(identity="ann", permissions=["p"], is_authenticated=True)
    assert normalize(obj).user.identity == "ann"
    with pytest.raises(ValueError, match="must return a user"):
        normalize(42)
    with pytest.raises(ValueError, match="identity must be a string"):
        normalize({"identity": 7})


def test_the_caller_reaches_nodes_as_json() -> None:
    caller = Caller(AuthUser(identity="ann", when=object()), ("p",))
    conf = caller.configurable()
    assert conf["langgraph_auth_user_id"] == "ann"
    assert conf["langgraph_auth_permissions"] == ["p"]
    assert isinstance(conf["langgraph_auth_user"]["when"], str)


@pytest.mark.parametrize(
    ("filters", "metadata", "expected"),
    [
        ({"owner": "a"}, {"owner": "a", "x": 1}, True),
        ({"owner": "a"}, {"owner": "b"}, False),
        ({"owner": "a"}, {}, False),
        ({"owner": {"$eq": "a"}}, {"owner": "a"}, True),
        ({"tags": {"$contains": "t"}}, {"tags": ["t", "u"]}, True),
        ({"tags": {"$contains": ["t", "u"]}}, {"tags": ["u"]}, False),
        ({"tags": {"$contains": "t"}}, {"tags": "t"}, False),
        ({"$or": [{"owner": "a"}, {"shared": True}]}, {"shared": True}, True),
        ({"$or": [{"owner": "a"}, {"shared": True}]}, {"owner": "b"}, False),
        ({"$and": [{"owner": "a"}, {"team": "x"}]}, {"owner": "a", "team": "x"}, True),
        ({"$and": [{"owner": "a"}, {"team": "x"}]}, {"owner": "a"}, False),
        (None, {}, True),
    ],
)
def test_filters_match_metadata(filters: Any, metadata: dict[str, Any], expected: bool) -> None:
    assert matches(metadata, filters) is expected


async def _decide(auth: Auth, resource: str, action: str, value: dict[str, Any]) -> Any:
    token = api_auth._auth.set((CustomAuth(auth), Caller(AuthUser(identity="ann"), ("p",))))
    try:
        return await api_auth.authorize(resource, action, value)
    finally:
        api_auth._auth.reset(token)


async def test_the_most_specific_handler_decides() -> None:
    auth = Auth()

    @auth.on
    async def everything(ctx: Auth.types.AuthContext, value: Any) -> Any:
        return {"who": "global"}

    @auth.on.threads
    async def threads(ctx: Auth.types.AuthContext, value: Any) -> Any:
        return {"who": "threads"}

    @auth.on.threads.create
    async def create(ctx: Auth.types.AuthContext, value: Any) -> Any:
        value["metadata"]["stamped"] = ctx.user.identity
        return None

    @auth.on.assistants.delete
    async def deny(ctx: Auth.types.AuthContext, value: Any) -> Any:
        return False

    @auth.on.store
    async def store(ctx: Auth.types.AuthContext, value: Any) -> Any:
        assert value["namespace"][0] == ctx.user.identity, "not yours"

    value: dict[str, Any] = {"metadata": {}}
    assert await _decide(auth, "threads", "create", value) is None
    assert value["metadata"] == {"stamped": "ann"}
    assert await _decide(auth, "threads", "read", {}) == {"who": "threads"}
    assert await _decide(auth, "assistants", "read", {}) == {"who": "global"}
    with pytest.raises(HTTPException) as denied:
        await _decide(auth, "assistants", "delete", {})
    assert denied.value.status_code == 403
    with pytest.raises(HTTPException) as asserted:
        await _decide(auth, "store", "put", {"namespace": ("bob",)})
    assert asserted.value.status_code == 403
    assert asserted.value.detail.startswith("not yours")  # (pytest adds its own explanation)


async def test_a_malformed_filter_is_a_server_error_not_a_silent_allow() -> None:
    auth = Auth()

    @auth.on
    async def bad(ctx: Auth.types.AuthContext, value: Any) -> Any:
        return {"$or": [{"owner": "a"}]}

    with pytest.raises(HTTPException) as failed:
        await _decide(auth, "threads", "read", {})
    assert failed.value.status_code == 500


def test_the_auth_configuration_is_read_from_the_environment_and_langgraph_json(
    tmp_path: Any,
) -> None:
    import json

    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tempograph.api.builtin_auth import BuiltinAuth, configured_policy
    from tempograph.errors import ConfigError
    from tempograph.registry import read_config
    from tempograph.settings import Settings

    (tmp_path / "graph.py").write_text("graph = None\n")
    plain = tmp_path / "langgraph.json"
    plain.write_text(json.dumps({"graphs": {"g": "./graph.py:graph"}}))
    config = read_config(plain)
    assert configured_policy(Settings(), config) is None
    keys = configured_policy(Settings(auth=("keys",)), config)
    assert isinstance(keys, BuiltinAuth) and keys.keys and keys.tokens is None
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    both = configured_policy(
        Settings(auth=("keys", "jwt"), jwt_jwks=str(tmp_path / "jwks.json")), config
    )
    assert isinstance(both, BuiltinAuth) and both.keys and both.tokens is not None
    for settings, says in [
        (Settings(auth=("jwt",)), "needs TEMPOGRAPH_JWT_JWKS"),
        (Settings(auth=("oauth",)), "unknown"),
        (Settings(auth=("jwt",), jwt_jwks=str(tmp_path / "missing.json")), "cannot read"),
    ]:
        with pytest.raises(ConfigError, match=says):
            configured_policy(settings, config)
    (tmp_path / "auth.py").write_text("from langgraph_sdk import Auth\nauth = Auth()\n")
    custom = tmp_path / "custom.json"
    custom.write_text(
        json.dumps({"graphs": {"g": "./graph.py:graph"}, "auth": {"path": "./auth.py:auth"}})
    )
    with pytest.raises(ConfigError, match="choose one"):
        configured_policy(Settings(auth=("keys",)), read_config(custom))
