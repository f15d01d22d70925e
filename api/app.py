"""The app factory: FastAPI with a lifespan that owns the database and the Temporal client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, cast

from fastapi import FastAPI
from starlette.applications import Starlette
from temporalio.client import Client

from tempograph import __version__
from tempograph.api import errors
from tempograph.api.audit import Audit
from tempograph.api.auth import Authenticate, Policy
from tempograph.api.cors import install as install_cors
from tempograph.api.custom_app import (
    combined_lifespan,
    custom_routes,
    included,
    its_handlers,
    matcher,
)
from tempograph.api.graphs import GraphCatalog, system_assistant_id
from tempograph.api.reaper import ThreadReaper
from tempograph.api.routes import (
    assistants,
    audit,
    bulk,
    codec,
    console,
    crons,
    keys,
    metrics,
    runs,
    state,
    store,
    system,
    threads,
)
from tempograph.api.routes import breakers as breaker_routes
from tempograph.api.routes.codec import CodecCors
from tempograph.api.services.closed import sweeper
from tempograph.api.services.cron_fire import serving_crons
from tempograph.api.state import AppState, Database
from tempograph.api.storage.assistants import AssistantStore
from tempograph.api.streaming import Notifier
from tempograph.breakers import BreakerConfig, Breakers
from tempograph.database import DatabaseUnavailable
from tempograph.settings import Settings
from tempograph.telemetry import instrument_app
from tempograph.temporal.client import connect
from tempograph.valuestore import PostgresValueStore
from tempograph.workflows.durable import DurableGraph


def create_app(
    settings: Settings,
    database_url: str,
    graphs: dict[str, DurableGraph],
    store_index: dict[str, Any] | None = None,
    store_ttl: dict[str, Any] | None = None,
    temporal_client: Awaitable[Client] | None = None,
    auth: Policy | None = None,
    thread_ttl: dict[str, Any] | None = None,
    cors: dict[str, Any] | None = None,
    breakers: BreakerConfig | None = None,
    http: dict[str, Any] | None = None,
    custom_app: Starlette | None = None,
) -> FastAPI:
    """An app for ``settings`` serving ``graphs`` (loaded graphs by id) and a memory store
    (``store_index``/``store_ttl`` as in langgraph.json); nothing connects until it starts.
    The app also sweeps for runs whose workflows Temporal ended (:mod:`tempograph.sweeper`).
    ``temporal_client``: a client to use (a worker's, in the same process) instead of its
    own connection. ``auth``: who may call, and do what (:mod:`tempograph.api.auth`).
    ``thread_ttl``: langgraph.json's ``checkpointer.ttl`` (:mod:`tempograph.api.reaper`).
    ``cors``: cross-origin access (:func:`tempograph.api.cors.cors_settings`).
    ``breakers``: langgraph.json's ``tempograph.breakers`` (``GET /breakers``).
    ``http``/``custom_app``: langgraph.json's ``http`` section and the project's own app
    (:mod:`tempograph.api.custom_app`)."""
    catalog = GraphCatalog({k: g.original for k, g in graphs.items()}, dict(graphs))
    database: Database

    async def open_store(pool: Any) -> None:
        from tempograph.store import PostgresStore

        if database.store is not None:  # the pool was reopened after an outage
            await database.store.stop_sweeper()
        store = PostgresStore(pool, index=cast(Any, store_index), ttl=cast(Any, store_ttl))
        await store.setup()
        if store_ttl and store_ttl.get("sweep_interval_minutes"):
            store.start_sweeper()  # deletes expired items; they are invisible already
        database.store = store

    async def system_assistants(pool: Any) -> None:
        store = AssistantStore(pool)
        for graph_id in catalog.ids():
            await store.create(
                system_assistant_id(graph_id),
                graph_id,
                {},
                {},
                {"created_by": "system"},
                catalog.name(graph_id),
                None,
            )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal database
        database = Database(database_url, on_open=[system_assistants, open_store])
        try:
            await database.pool()
        except DatabaseUnavailable:
            pass  # serve 503s until Postgres is back; every request retries
        values = PostgresValueStore(database.pool, settings.cache_bytes // 2)
        if temporal_client is not None:
            temporal = await temporal_client
        else:
            temporal = await connect(settings, values)
        app.state.tempograph = AppState(
            database=database,
            temporal=temporal,
            task_queue=settings.task_queue,
            catalog=catalog,
            notifier=Notifier(database_url),
            values=values,
            breakers=Breakers(database.pool, breakers or BreakerConfig()),
            webhook_allow_private=settings.webhook_allow_private,
            tenant_max_runs=settings.tenant_max_runs,
            operator_tenant=settings.operator_tenant,
            temporal_ui=settings.temporal_ui_url,
            auth_kind="none" if auth is None else getattr(auth, "kind", "custom"),
        )
        sweeping = asyncio.create_task(sweeper(app.state.tempograph).run_forever())
        reaper = asyncio.create_task(
            ThreadReaper(app.state.tempograph, thread_ttl or {}).run_forever()
        )
        try:
            async with serving_crons(app.state.tempograph, auth):  # every replica fires
                yield
        finally:
            for task in (sweeping, reaper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.tempograph.notifier.close()
            if database.store is not None:
                await database.store.stop_sweeper()
            await database.close()

    http = http or {}
    meta = included(http, "meta")  # disable_meta: no /info, /metrics, /docs, /openapi.json
    app = FastAPI(
        title="Tempograph",
        version=__version__,
        openapi_url="/openapi.json" if meta else None,
        lifespan=lifespan if custom_app is None else combined_lifespan(lifespan, custom_app),
        responses=errors.ERROR_RESPONSES,
    )
    errors.install(app)
    app.add_middleware(errors.BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Audit)  # inside authentication: it records who called
    theirs = list(custom_app.user_middleware) if custom_app is not None else []
    auth_first = http.get("middleware_order") == "auth_first"
    if auth_first:
        app.user_middleware[0:0] = theirs
    if auth is not None:
        skip = None
        if custom_app is not None and not http.get("enable_custom_route_auth"):
            # Only where the request's route is the project's: ours ahead of it (the
            # docs, /ok) stay covered.
            skip = matcher(app.router, custom_routes(custom_app))
        app.add_middleware(Authenticate, policy=auth, skip=skip)  # before any body is read
    if not auth_first:
        app.user_middleware[0:0] = theirs
    install_cors(app, cors)  # before authentication: a preflight carries no credentials
    if settings.codec_origins:
        # Outermost: the Temporal UI's calls to /codec have their own rules (the other
        # paths pass through to the general CORS above).
        app.add_middleware(CodecCors, origins=list(settings.codec_origins))
    groups = {
        "assistants": [assistants.router],
        "threads": [bulk.thread_router, threads.router, state.router, runs.thread_router],
        "runs": [crons.router, bulk.router, runs.router],
        "store": [store.router],
    }
    app.include_router(system.health)
    first = len(app.router.routes)  # the project's routes go here: after /ok, before ours
    about = [system.router, metrics.router] if meta else []
    for router in [*about, *(r for g, rs in groups.items() if included(http, g) for r in rs)]:
        app.include_router(router)
    for router in (keys.router, audit.router, codec.router, breaker_routes.router):
        app.include_router(router)
    app.include_router(console.router)
    if custom_app is not None:
        app.state = custom_app.state  # its module-level `app.state` is request.app.state
        app.exception_handlers.update(its_handlers(custom_app))  # its own win, as there
        app.router.routes[first:first] = custom_routes(custom_app)
    instrument_app(app)  # with tracing on: one trace per request (outermost)
    return app
