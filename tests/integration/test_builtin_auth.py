"""Built-in auth: API keys and JWTs, tenants and roles, through the pinned
``langgraph_sdk`` (``api_key=``, ``headers=``) on a real worker and Postgres."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from temporalio.client import Client

from tempograph.api.builtin_auth import BuiltinAuth, JwtSettings, JwtVerifier
from tempograph.database import open_pool
from tempograph.keys import KeyStore
from tempograph.temporal.devserver import DevServer
from tests.conftest import load_test_graph
from tests.integration.api_server import api_stack

ISSUER, AUDIENCE = "https://id.example.test", "tempograph-tests"


class Idp:
    """An identity provider: an RSA key whose public half is in a JWKS file."""

    def __init__(self, root: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = root / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [{**public, "kid": "k1", "use": "sig"}]}))

    def token(self, sub: str, **claims: Any) -> str:
        body = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": time.time() + 300, **claims}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Idp:
    return Idp(tmp_path_factory.mktemp("idp"))


@pytest.fixture(scope="module")
async def api(
    dev_server: DevServer, client: Client, postgres_url: str, idp: Idp
) -> AsyncIterator[str]:
    tokens = JwtVerifier(JwtSettings(jwks=str(idp.jwks), issuer=ISSUER, audience=AUDIENCE))
    graphs = {
        "whoami": load_test_graph("whoami", "auth_app/whoami.py:graph"),
        "approval": load_test_graph("approval", "approval.py:graph"),
        "gate": load_test_graph("gate", "api_compat_graphs.py:gate_graph"),
    }
    policy = BuiltinAuth(keys=True, tokens=tokens)
    async with api_stack(dev_server, client, postgres_url, graphs, auth=policy) as http:
        yield str(http.base_url)


@pytest.fixture(scope="module")
async def keys(postgres_url: str) -> AsyncIterator[KeyStore]:
    pool = await open_pool(postgres_url)
    yield KeyStore(pool)
    await pool.close()


async def key_for(keys: KeyStore, tenant: str, role: str) -> str:
    key, _ = await keys.create(tenant, role, f"{tenant} {role}")
    return key


def sdk(api: str, key: str) -> LangGraphClient:
    return get_client(url=api, api_key=key)


def refused(status: int) -> Any:
    return pytest.raises(
        httpx.HTTPStatusError, check=lambda err: err.response.status_code == status
    )


def tenant() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


async def test_credentials_are_checked_and_refusals_say_why(api: str, keys: KeyStore) -> None:
    async with httpx.AsyncClient(base_url=api) as http:
        assert (await http.get("/ok")).status_code == 200
        none = await http.post("/threads", json={})
        assert none.status_code == 401
        assert none.json()["detail"].startswith("Missing credentials")
        basic = await http.post("/threads", json={}, headers={"authorization": "Basic dTpw"})
        assert basic.status_code == 401
        assert basic.json()["detail"].startswith("Credentials not accepted here (Basic")
        forged = await http.get("/info", headers={"x-api-key": "tg_0123_notasecret"})
        assert forged.status_code == 401
        assert forged.json() == {"detail": "Invalid or revoked API key"}
        key = await key_for(keys, tenant(), "viewer")
        ok = await http.get("/info", headers={"x-api-key": key})
        assert ok.status_code == 200
        key_id = key.split("_")[1]
        assert await keys.revoke(key_id)
        revoked = await http.get("/info", headers={"x-api-key": key})
        assert revoked.status_code == 401
        assert key.split("_", 2)[2] not in revoked.text
    listed = await keys.list()
    assert all("secret" not in json.dumps(row) for row in listed)


async def test_roles_nest_viewer_approver_operator_admin(api: str, keys: KeyStore) -> None:
    team = tenant()
    viewer = sdk(api, await key_for(keys, team, "viewer"))
    approver = sdk(api, await key_for(keys, team, "approver"))
    operator = sdk(api, await key_for(keys, team, "operator"))
    admin = sdk(api, await key_for(keys, team, "admin"))
    thread = await operator.threads.create(metadata={"case": "refund"})
    await operator.runs.wait(thread["thread_id"], "approval", input={"request": "refund"})
    assert (await viewer.threads.get(thread["thread_id"]))["status"] == "interrupted"
    with refused(403) as denied:
        await viewer.threads.create()
    assert denied.value.response.json() == {
        "detail": "Forbidden: threads.create needs the operator role"
    }
    with refused(403):
        await viewer.runs.wait(thread["thread_id"], "approval", command={"resume": {}})
    # An approver answers the interrupt, and may do nothing more.
    with refused(403):
        await approver.runs.wait(thread["thread_id"], "approval", input={"request": "x"})
    with refused(403):
        await approver.runs.wait(thread["thread_id"], "approval", command={"goto": "draft"})
    for extra in (
        {"config": {"configurable": {"injected": 1}}},
        {"metadata": {"x": 1}},
        {"multitask_strategy": "rollback"},
        {"interrupt_after": "*"},
    ):
        with refused(403):  # an answer, and nothing else
            await approver.runs.wait(
                thread["thread_id"], "approval", command={"resume": {"approved": True}}, **extra
            )
    out = await approver.runs.wait(
        thread["thread_id"], "approval", command={"resume": {"approved": False}}
    )
    assert out["approved"] is False
    with refused(403):
        await approver.threads.update_state(thread["thread_id"], {"note": "x"})
    with refused(403):
        await operator.http.get("/keys")
    for who in (operator, admin):  # the codec reads every tenant's payloads
        with refused(403):
            await who.http.post("/codec/decode", json={"payloads": []})
    made = await admin.http.post("/keys", json={"role": "viewer", "name": "ci"})
    assert made["tenant_id"] == team and made["key"].startswith("tg_")
    assert made["key_id"] in [k["key_id"] for k in await admin.http.get("/keys")]
    await admin.http.delete(f"/keys/{made['key_id']}")
    with refused(401):
        await sdk(api, made["key"]).threads.search()


async def test_tenants_see_only_their_own(api: str, keys: KeyStore) -> None:
    team_a, team_b = tenant(), tenant()
    a = sdk(api, await key_for(keys, team_a, "operator"))
    b = sdk(api, await key_for(keys, team_b, "operator"))
    mine = await a.threads.create(metadata={"case": "shared-word"})
    out = await a.runs.wait(mine["thread_id"], "whoami", input={})
    assert out["user_id"].startswith("key:")
    for call in (
        b.threads.get(mine["thread_id"]),
        b.threads.get_state(mine["thread_id"]),
        b.threads.update(mine["thread_id"], metadata={"x": 1}),
        b.threads.delete(mine["thread_id"]),
        b.runs.list(mine["thread_id"]),
        b.runs.wait(mine["thread_id"], "whoami", input={}),
    ):
        with refused(404):
            await call
    assert await b.threads.search(metadata={"case": "shared-word"}) == []
    assert await b.threads.count() == 0
    assert [t["thread_id"] for t in await a.threads.search()] == [mine["thread_id"]]
    assert len(await a.runs.list(mine["thread_id"])) == 1  # B's refused run left nothing
    # The same thread id in another tenant is taken, not shared.
    with refused(409):
        await b.threads.create(thread_id=mine["thread_id"])
    # An idempotency key another tenant used answers nothing of theirs.
    key = str(uuid.uuid4())
    await a.http.post(
        f"/threads/{mine['thread_id']}/runs",
        json={"assistant_id": "whoami", "input": {}},
        headers={"Idempotency-Key": key},
    )
    theirs = await b.threads.create()
    with refused(404):
        await b.http.post(
            f"/threads/{theirs['thread_id']}/runs",
            json={"assistant_id": "whoami", "input": {}},
            headers={"Idempotency-Key": key},
        )
    # Assistants: the system ones are shared and read-only; a tenant's own are private.
    assert (await b.assistants.get("whoami"))["graph_id"] == "whoami"
    with refused(403):
        await b.assistants.update("whoami", metadata={"hijacked": True})
    helper = await a.assistants.create("whoami", name="a's helper")
    with refused(404):
        await b.assistants.get(helper["assistant_id"])
    with refused(404):
        await b.runs.wait(theirs["thread_id"], helper["assistant_id"], input={})
    found = await b.assistants.search(graph_id="whoami")
    assert helper["assistant_id"] not in [x["assistant_id"] for x in found]


async def test_the_store_is_per_tenant_in_the_api_and_in_nodes(api: str, keys: KeyStore) -> None:
    a = sdk(api, await key_for(keys, tenant(), "operator"))
    b = sdk(api, await key_for(keys, tenant(), "operator"))
    await a.store.put_item(["notes"], "n1", {"text": "a's"})
    assert await b.store.get_item(["notes"], "n1") is None
    assert (await b.store.search_items(["notes"]))["items"] == []
    item = await a.store.get_item(["notes"], "n1")
    assert item is not None and item["namespace"] == ["notes"]
    assert ["notes"] in (await a.store.list_namespaces())["namespaces"]
    assert ["notes"] not in (await b.store.list_namespaces())["namespaces"]
    # A node's store is its run's tenant's: each run sees only its own tenant's visitors.
    out_a = await a.runs.wait(None, "whoami", input={})
    out_b = await b.runs.wait(None, "whoami", input={})
    assert out_a["visitors"] == [out_a["identity"]]
    assert out_b["visitors"] == [out_b["identity"]]
    visits = await a.store.search_items(["visits"])
    assert [i["key"] for i in visits["items"]] == [out_a["identity"]]


async def test_jwt_bearer_tokens(api: str, idp: Idp) -> None:
    team = tenant()
    good = idp.token("ann@example.test", tenant=team, roles=["viewer", "operator"])
    ann = get_client(url=api, headers={"Authorization": f"Bearer {good}"})
    out = await ann.runs.wait(None, "whoami", input={})
    assert (out["identity"], out["permissions"]) == ("ann@example.test", ["operator"])
    async with httpx.AsyncClient(base_url=api) as http:
        for token, status, says in [
            (idp.token("x", tenant=team, roles=["admin"], aud="other"), 401, "audience"),
            (idp.token("x", tenant=team, roles=["admin"], exp=time.time() - 60), 401, "expired"),
            (idp.token("x", tenant=team, roles=["superuser"]), 403, "roles"),
            (idp.token("x", roles=["admin"]), 403, "tenant"),
            (good[:-4] + "AAAA", 401, "Invalid token"),
        ]:
            answer = await http.get("/info", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == status, answer.text
            assert says.lower() in answer.json()["detail"].lower()
            assert token not in answer.text


async def test_the_audit_log_records_who_did_what(
    api: str, keys: KeyStore, postgres_url: str
) -> None:
    team, other = tenant(), tenant()
    operator = sdk(api, await key_for(keys, team, "operator"))
    approver = sdk(api, await key_for(keys, team, "approver"))
    viewer = sdk(api, await key_for(keys, team, "viewer"))
    admin = sdk(api, await key_for(keys, team, "admin"))
    outsider = sdk(api, await key_for(keys, other, "admin"))
    thread = await operator.threads.create()
    run = await operator.runs.create(thread["thread_id"], "approval", input={"request": "pay"})
    await operator.runs.join(thread["thread_id"], run["run_id"])
    await approver.runs.wait(
        thread["thread_id"], "approval", command={"resume": {"approved": False}}
    )
    with refused(403):
        await viewer.threads.create()
    await operator.threads.search()  # a read: not audited
    rows = await admin.http.get("/audit")
    actions = [(r["action"], r["outcome"]) for r in rows]
    assert actions == [
        ("threads.create", 200),
        ("runs.create", 200),
        ("interrupts.answer", 200),
        ("threads.create", 403),
    ]
    created, started, answered, refused_row = rows
    assert created["resource_id"] == thread["thread_id"]
    assert created["tenant_id"] == team and created["key_id"]
    assert created["actor"] == f"key:{created['key_id']}"
    assert started["resource_id"] == run["run_id"]
    assert answered["detail"]["answer"] == {"approved": False}
    [pending] = answered["detail"]["interrupts"].values()
    assert pending[0]["value"] == {"question": "approve?", "request": "pay"}
    assert refused_row["actor"] != created["actor"]
    assert [
        r["action"] for r in await admin.http.get("/audit", params={"action": "runs.create"})
    ] == ["runs.create"]
    # Tenants and roles: another tenant's admin sees none of it; an operator, nothing.
    assert await outsider.http.get("/audit") == []
    with refused(403):
        await outsider.http.get("/audit", params={"tenant_id": team})
    with refused(403):
        await operator.http.get("/audit")
    # Postgres refuses to change or delete a row.
    import asyncpg

    conn = await asyncpg.connect(postgres_url)
    try:
        for statement in (
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_a_tenant_over_its_run_quota_gets_429_and_nothing_is_stored(
    api: str, keys: KeyStore, tmp_path: Path
) -> None:
    from tempograph.settings import Settings

    limit = Settings().tenant_max_runs  # the default a deployment gets
    key = await key_for(keys, tenant(), "operator")
    operator = sdk(api, key)
    other = sdk(api, await key_for(keys, tenant(), "operator"))
    thread = await operator.threads.create()
    gate = tmp_path / "gate"
    # One run held in its node, the rest queued behind it: all in flight.
    await operator.runs.create(thread["thread_id"], "gate", input={"gate": str(gate)})
    for _ in range(limit - 1):
        await operator.runs.create(
            thread["thread_id"], "gate", input={"gate": str(gate)}, multitask_strategy="enqueue"
        )
    fresh = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=api, headers={"x-api-key": key}) as http:
        over = await http.post(
            f"/threads/{fresh}/runs",
            json={"assistant_id": "gate", "input": {"gate": str(gate)}, "if_not_exists": "create"},
        )
        assert over.status_code == 429
        assert over.headers["retry-after"] == "2"
        assert "Too many runs in flight" in over.json()["detail"]
        assert (await http.get(f"/threads/{fresh}")).status_code == 404  # no thread stored
    assert len(await operator.runs.list(thread["thread_id"], limit=1000)) == limit
    # Another tenant is not affected.
    out = await other.runs.wait(None, "whoami", input={})
    assert out["identity"].startswith("key:")
    await operator.threads.delete(thread["thread_id"])  # stops the held run, drops the queue


async def test_a_jwks_served_at_a_url(idp: Idp, tmp_path: Path) -> None:
    """An identity provider's JWKS URL (fetched by PyJWT's client, cached per key id)."""
    import http.server
    import threading

    from tests.conftest import free_port

    body = idp.jwks.read_bytes()

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        verifier = JwtVerifier(
            JwtSettings(
                jwks=f"http://127.0.0.1:{port}/.well-known/jwks.json",
                issuer=ISSUER,
                audience=AUDIENCE,
            )
        )
        claims = await verifier.claims(idp.token("ann", tenant="t1", roles=["viewer"]))
        assert (claims["sub"], claims["tenant"]) == ("ann", "t1")
        with pytest.raises(jwt.InvalidTokenError):
            await verifier.claims(idp.token("ann", tenant="t1", roles=["viewer"], aud="x"))
    finally:
        server.shutdown()
        server.server_close()
