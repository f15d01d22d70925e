"""The HTTP API (FastAPI, LangGraph Server compatible). Built under issue 3; empty until then."""
