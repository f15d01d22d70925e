"""The HTTP API: FastAPI, speaking the LangGraph Server API where it makes sense."""

from tempograph.api.app import create_app

__all__ = ["create_app"]
