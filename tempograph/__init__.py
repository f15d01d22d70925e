"""Tempograph: a durable, distributed runtime for LangGraph graphs on Temporal."""

__all__ = ["__version__"]

__version__ = "0.1.0"
