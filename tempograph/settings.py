"""One settings object, read from the environment at start-up and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TASK_QUEUE = "tempograph"
DEFAULT_NAMESPACE = "default"
SEARCH_ATTRIBUTES = {
    "ThreadId": "Keyword",
    "GraphId": "Keyword",
    "AssistantId": "Keyword",
    "RunStatus": "Keyword",
}


@dataclass(frozen=True)
class Settings:
    """Where Tempograph finds Temporal, where it keeps data, which queue it serves."""

    temporal_address: str = "127.0.0.1:7233"
    # Where `tempograph run`, `resume` and `state` find the HTTP API.
    api_url: str = "http://127.0.0.1:8000"
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE
    data_dir: Path = Path(".tempograph")
    # A Postgres URL; None runs the embedded server under the data directory.
    database_url: str | None = None
    # On SIGTERM, running nodes get this long to finish before they are cancelled.
    graceful_shutdown_seconds: float = 30.0
    # Larger request bodies get 413. Inputs travel by reference (claim checks), so this is
    # about what one request may make a process hold, not about Temporal's payload limit.
    max_body_bytes: int = 32 * 1024 * 1024
    # Memory for caches of state parts (encoded and decoded) per process.
    cache_bytes: int = 64 * 1024 * 1024
    # Let webhooks reach any address: loopback, private, link-local (local development).
    webhook_allow_private: bool = False
    # Built-in auth: "keys", "jwt" or "keys,jwt" (empty: none; langgraph.json's "auth"
    # is the other way). JWTs are checked against a JWKS file or URL.
    auth: tuple[str, ...] = ()
    jwt_jwks: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_tenant_claim: str = "tenant"
    jwt_roles_claim: str = "roles"
    # With built-in auth: how many runs a tenant may have in flight (pending or running)
    # at once; more get 429. 0 for no limit.
    tenant_max_runs: int = 100
    # With built-in auth: the tenant whose admins may use /codec (it reads every tenant's
    # payloads: the platform operators' tenant). Unset: nobody, with built-in auth.
    operator_tenant: str | None = None
    # How to authenticate to Temporal: an API key (Temporal Cloud; implies TLS), or mTLS
    # with a client certificate and key (PEM files), optionally a CA for the server.
    temporal_api_key: str | None = None
    temporal_tls_cert: str | None = None
    temporal_tls_key: str | None = None
    temporal_tls_ca: str | None = None
    # A cluster off loopback with none of those: refused unless this says it is meant.
    temporal_insecure: bool = False
    # Origins (the Temporal UI's) allowed to call /codec/* from a browser.
    codec_origins: tuple[str, ...] = ()
    # Where `tempograph worker` serves Prometheus metrics (0: nowhere). The API serves
    # them at /metrics.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    # The Temporal UI, for the console's links to runs (`tempograph up` sets its own).
    temporal_ui_url: str | None = None
    # `tempograph worker`: the Worker Deployment version it joins ("auto": from its code;
    # None: unversioned) and the deployment's name (None: the task queue).
    build_id: str | None = None
    deployment: str | None = None
    # Node attempts one worker process runs at once (its activity slots).
    activity_slots: int = 100

    @classmethod
    def from_env(cls, project: Path | None = None) -> Settings:
        """Settings from the environment; the data directory defaults to ``.tempograph``
        in ``project`` (the folder holding the ``langgraph.json`` a command was given),
        else in the current directory."""
        env = os.environ
        data_dir = Path(env["TEMPOGRAPH_DATA_DIR"]) if env.get("TEMPOGRAPH_DATA_DIR") else None
        return cls(
            temporal_address=env.get("TEMPORAL_ADDRESS", cls.temporal_address),
            api_url=env.get("TEMPOGRAPH_API_URL", cls.api_url),
            namespace=env.get("TEMPORAL_NAMESPACE", cls.namespace),
            task_queue=env.get("TEMPOGRAPH_TASK_QUEUE", cls.task_queue),
            data_dir=data_dir or (project / cls.data_dir if project is not None else cls.data_dir),
            database_url=env.get("DATABASE_URL") or None,
            graceful_shutdown_seconds=float(
                env.get("TEMPOGRAPH_GRACEFUL_SHUTDOWN_SECONDS", cls.graceful_shutdown_seconds)
            ),
            max_body_bytes=int(env.get("TEMPOGRAPH_MAX_BODY_BYTES", cls.max_body_bytes)),
            cache_bytes=int(env.get("TEMPOGRAPH_CACHE_MB", cls.cache_bytes // 2**20)) * 2**20,
            webhook_allow_private=env.get("TEMPOGRAPH_WEBHOOK_ALLOW_PRIVATE", "").lower()
            in ("1", "true", "yes"),
            auth=tuple(
                part.strip().lower()
                for part in env.get("TEMPOGRAPH_AUTH", "").split(",")
                if part.strip()
            ),
            jwt_jwks=env.get("TEMPOGRAPH_JWT_JWKS") or None,
            jwt_issuer=env.get("TEMPOGRAPH_JWT_ISSUER") or None,
            jwt_audience=env.get("TEMPOGRAPH_JWT_AUDIENCE") or None,
            jwt_tenant_claim=env.get("TEMPOGRAPH_JWT_TENANT_CLAIM", cls.jwt_tenant_claim),
            jwt_roles_claim=env.get("TEMPOGRAPH_JWT_ROLES_CLAIM", cls.jwt_roles_claim),
            tenant_max_runs=int(env.get("TEMPOGRAPH_TENANT_MAX_RUNS", cls.tenant_max_runs)),
            operator_tenant=env.get("TEMPOGRAPH_OPERATOR_TENANT") or None,
            temporal_api_key=env.get("TEMPORAL_API_KEY") or None,
            temporal_tls_cert=env.get("TEMPORAL_TLS_CERT") or None,
            temporal_tls_key=env.get("TEMPORAL_TLS_KEY") or None,
            temporal_tls_ca=env.get("TEMPORAL_TLS_CA") or None,
            temporal_insecure=env.get("TEMPOGRAPH_TEMPORAL_INSECURE", "").lower()
            in ("1", "true", "yes"),
            codec_origins=tuple(
                o.strip() for o in env.get("TEMPOGRAPH_CODEC_ORIGINS", "").split(",") if o.strip()
            ),
            metrics_host=env.get("TEMPOGRAPH_METRICS_HOST", cls.metrics_host),
            metrics_port=int(env.get("TEMPOGRAPH_METRICS_PORT", cls.metrics_port)),
            temporal_ui_url=env.get("TEMPOGRAPH_TEMPORAL_UI_URL") or None,
            build_id=env.get("TEMPOGRAPH_BUILD_ID") or None,
            deployment=env.get("TEMPOGRAPH_DEPLOYMENT") or None,
            activity_slots=int(env.get("TEMPOGRAPH_ACTIVITY_SLOTS", cls.activity_slots)),
        )
