"""The app factory: FastAPI with a lifespan that owns the database and the Temporal client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.routes import system
from api.state import AppState, Database
from tempograph import __version__
from tempograph.database import DatabaseUnavailable
from tempograph.settings import Settings
from temporal.client import connect


def create_app(settings: Settings, database_url: str, graphs: list[str]) -> FastAPI:
    """An app for ``settings``; nothing connects until the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(database_url)
        try:
            await database.pool()
        except DatabaseUnavailable:
            pass  # serve 503s until Postgres is back; every request retries
        app.state.tempograph = AppState(
            database=database,
            temporal=await connect(settings),
            task_queue=settings.task_queue,
            graphs=graphs,
        )
        try:
            yield
        finally:
            await database.close()

    app = FastAPI(title="Tempograph", version=__version__, lifespan=lifespan)
    errors.install(app)
    app.include_router(system.router)
    return app
