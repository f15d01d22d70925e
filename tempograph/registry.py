"""Graphs from a ``langgraph.json``-compatible file.

``{"dependencies": ["."], "graphs": {"id": "./file.py:attr"}, "env": {...} | "./.env"}``;
paths resolve relative to the file. Tempograph's own per-graph settings live under an
optional ``"tempograph"`` key, which LangGraph tooling ignores::

    "tempograph": {"graphs": {"id": {"defaults": {<policy>}, "nodes": {"node": {<policy>}}}}}

A graph that fails to import, or cannot be run durably, is reported by name with the
reason; the others still load.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.graph import StateGraph

from tempograph.breakers import BreakerConfig
from tempograph.errors import ConfigError, GraphLoadError
from tempograph.usage import Prices
from tempograph.workflows import serde
from tempograph.workflows.durable import DurableGraph, make_durable
from tempograph.workflows.policy import NodePolicy, apply_overrides


@dataclass
class GraphSpec:
    graph_id: str
    path: Path
    attr: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class ProjectConfig:
    path: Path
    graphs: dict[str, GraphSpec]
    dependencies: list[Path]
    env: dict[str, str]
    # LangGraph Server's "store" section: {"index": {"embed", "dims", "fields"}, "ttl": {...}}.
    store: dict[str, Any] = field(default_factory=dict)
    # LangGraph Server's "auth" section: {"path": "./auth.py:auth"}; empty for none.
    auth: dict[str, Any] = field(default_factory=dict)
    # LangGraph Server's "checkpointer": {"ttl": {"strategy", "default_ttl",
    # "sweep_interval_minutes", "sweep_limit"}}: when idle threads expire.
    thread_ttl: dict[str, Any] = field(default_factory=dict)
    # tempograph.prices: USD per million input/output tokens by model (tempograph.usage).
    prices: Prices = field(default_factory=Prices)
    # LangGraph Server's "http.cors" (Starlette's CORSMiddleware arguments), or None.
    cors: dict[str, Any] | None = None
    # tempograph.breakers: circuit breakers' settings by dependency (tempograph.breakers).
    breakers: BreakerConfig = field(default_factory=BreakerConfig)
    # LangGraph Server's "http" section: the project's app and route switches
    # (tempograph.api.custom_app).
    http: dict[str, Any] = field(default_factory=dict)


def read_config(path: str | Path) -> ProjectConfig:
    """Parse and check a langgraph.json; raises :class:`ConfigError` saying what is wrong."""
    path = Path(path).resolve()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("graphs"), dict) or not raw["graphs"]:
        raise ConfigError(f'{path}: needs a non-empty "graphs" object')
    base = path.parent
    own = raw.get("tempograph", {})
    extra = own.get("graphs", {}) if isinstance(own, dict) else None
    if not isinstance(extra, dict):
        raise ConfigError(f'{path}: "tempograph" must be {{"graphs": {{"<id>": {{...}}}}}}')
    graphs: dict[str, GraphSpec] = {}
    for graph_id, ref in raw["graphs"].items():
        if isinstance(ref, dict):  # {"path": "./file.py:attr", "description": ...}
            ref = ref.get("path")
        if not isinstance(ref, str) or ":" not in ref:
            raise ConfigError(f'{path}: graph {graph_id!r} must be "./file.py:attribute"')
        if "." in graph_id:
            raise ConfigError(f"{path}: graph id {graph_id!r} must not contain '.'")
        file_part, _, attr = ref.rpartition(":")
        own = extra.get(graph_id, {})
        graphs[graph_id] = GraphSpec(
            graph_id=graph_id,
            path=(base / file_part).resolve(),
            attr=attr,
            defaults=own.get("defaults", {}),
            nodes=own.get("nodes", {}),
        )
    dependencies = [
        (base / d).resolve()
        for d in raw.get("dependencies", [])
        if isinstance(d, str) and (d.startswith(".") or d.startswith("/"))
    ]
    store = raw.get("store") or {}
    if not isinstance(store, dict):
        raise ConfigError(f'{path}: "store" must be an object')
    auth = raw.get("auth") or {}
    if not isinstance(auth, dict) or (auth and not isinstance(auth.get("path"), str)):
        raise ConfigError(f'{path}: "auth" must be {{"path": "./auth.py:auth"}}')
    checkpointer = raw.get("checkpointer") or {}
    thread_ttl = checkpointer.get("ttl") if isinstance(checkpointer, dict) else None
    if thread_ttl is not None and not isinstance(thread_ttl, dict):
        raise ConfigError(f'{path}: "checkpointer.ttl" must be an object')
    if thread_ttl and thread_ttl.get("strategy", "delete") not in ("delete", "keep_latest"):
        raise ConfigError(f'{path}: checkpointer.ttl.strategy must be "delete" or "keep_latest"')
    return ProjectConfig(
        path,
        graphs,
        dependencies,
        _read_env(base, raw.get("env")),
        store,
        auth,
        thread_ttl or {},
        Prices.parse(raw.get("tempograph", {}).get("prices"), str(path)),
        _read_cors(raw.get("http"), path),
        BreakerConfig.parse(raw.get("tempograph", {}).get("breakers"), str(path)),
        check_http(raw.get("http") or {}, path),
    )


# The keys of LangGraph Server's http config that Tempograph honours; the rest of its keys
# are refused by name rather than ignored.
SWITCHES = (
    "disable_assistants",
    "disable_threads",
    "disable_runs",
    "disable_store",
    "disable_meta",
    "enable_custom_route_auth",
)
# Nothing to disable: Tempograph serves no MCP, A2A or generative-UI routes.
ABSENT = ("disable_mcp", "disable_a2a", "disable_ui")
NOT_SUPPORTED = ("mount_prefix", "configurable_headers", "logging_headers", "disable_webhooks")


def check_http(http: dict[str, Any], path: Path) -> dict[str, Any]:
    """langgraph.json's ``http`` section, checked (``cors`` is read on its own; the app is
    loaded by :mod:`tempograph.api.custom_app`)."""
    for key, value in http.items():
        if key in ("cors", "app"):
            continue
        if key == "middleware_order":
            if value not in (None, "middleware_first", "auth_first"):
                raise ConfigError(
                    f'{path}: http.middleware_order must be "middleware_first" or "auth_first"'
                )
        elif key in SWITCHES or key in ABSENT:
            if value is not None and not isinstance(value, bool):
                raise ConfigError(f"{path}: http.{key} must be true or false")
        elif key in NOT_SUPPORTED:
            if value not in (None, False, {}, "", []):
                raise ConfigError(f"{path}: http.{key} is not supported by Tempograph")
        else:
            raise ConfigError(f"{path}: http.{key} is not a LangGraph Server http setting")
    app = http.get("app")
    if app is not None and (not isinstance(app, str) or not app.rpartition(":")[0]):
        raise ConfigError(
            f'{path}: http.app must be "./file.py:app" or "package.module:app"; got {app!r}'
        )
    return http


_CORS_KEYS = {
    "allow_origins": list,
    "allow_methods": list,
    "allow_headers": list,
    "allow_credentials": bool,
    "allow_origin_regex": str,
    "expose_headers": list,
    "max_age": int,
    "allow_private_network": bool,
}


def _read_cors(http: Any, path: Path) -> dict[str, Any] | None:
    """langgraph.json's ``http.cors``, checked as LangGraph Server's CorsConfig."""
    if http is None:
        return None
    if not isinstance(http, dict):
        raise ConfigError(f'{path}: "http" must be an object')
    cors = http.get("cors")
    if cors is None:
        return None
    if not isinstance(cors, dict):
        raise ConfigError(f'{path}: "http.cors" must be an object')
    for key, value in cors.items():
        kind = _CORS_KEYS.get(key)
        if kind is None:
            raise ConfigError(f"{path}: http.cors.{key} is not one of {sorted(_CORS_KEYS)}")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: http.cors.{key} must be a {kind.__name__}")
    return dict(cors)


def _read_env(base: Path, env: Any) -> dict[str, str]:
    if env is None:
        return {}
    if isinstance(env, dict):
        return {str(k): str(v) for k, v in env.items()}
    if isinstance(env, str):
        values: dict[str, str] = {}
        env_file = base / env
        if not env_file.exists():
            raise ConfigError(f"env file {env_file} does not exist")
        for line in env_file.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip().strip('"').strip("'")
        return values
    raise ConfigError('"env" must be an object or a path to a .env file')


def _module_name(path: Path) -> str:
    """The file's stem, or, when another file has it (``a/graph.py``, ``b/graph.py``),
    the stem with enough parent folders to tell them apart; stable across workers."""
    parts = [path.stem]
    for parent in path.parents:
        name = "_".join(parts)
        existing = sys.modules.get(name)
        if existing is None:
            return name
        if Path(getattr(existing, "__file__", "") or "").resolve() == path:
            return name
        parts.insert(0, parent.name or "root")
    raise ImportError(f"no free module name for {path}")


def import_file(path: Path) -> ModuleType:
    name = _module_name(path)
    existing = sys.modules.get(name)
    if existing is not None:
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_graph(spec: GraphSpec, default_policy: NodePolicy | None = None) -> DurableGraph:
    """Import one graph and make it durable; :class:`GraphLoadError` says why not."""
    if not spec.path.exists():
        raise GraphLoadError(spec.graph_id, f"file {spec.path} does not exist")
    try:
        module = import_file(spec.path)
    except Exception as err:
        raise GraphLoadError(
            spec.graph_id, f"import of {spec.path} failed: {type(err).__name__}: {err}"
        ) from err
    if not hasattr(module, spec.attr):
        raise GraphLoadError(spec.graph_id, f"{spec.path} has no attribute {spec.attr!r}")
    graph = getattr(module, spec.attr)
    if isinstance(graph, StateGraph):
        graph = graph.compile()
    policy = default_policy or NodePolicy()
    try:
        policy = apply_overrides(policy, spec.defaults, "defaults")
        durable = make_durable(spec.graph_id, graph, policy, spec.nodes)
    except ConfigError as err:
        raise GraphLoadError(spec.graph_id, err.message) from err
    serde.allow(serde.graph_types(graph, module))
    durable.source = spec
    return durable


def load_project(
    config: ProjectConfig, default_policy: NodePolicy | None = None
) -> tuple[dict[str, DurableGraph], dict[str, str]]:
    """Load every graph; returns the loaded graphs and, by graph id, why others failed."""
    for key, value in config.env.items():
        os.environ.setdefault(key, value)
    for dep in [config.path.parent, *config.dependencies]:
        if str(dep) not in sys.path:
            sys.path.insert(0, str(dep))
    loaded: dict[str, DurableGraph] = {}
    failed: dict[str, str] = {}
    for graph_id, spec in config.graphs.items():
        try:
            loaded[graph_id] = load_graph(spec, default_policy)
        except GraphLoadError as err:
            failed[graph_id] = err.reason
    return loaded, failed


def store_settings(config: ProjectConfig) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The store's index config (with ``embed`` resolved to an object) and TTL config.

    ``embed`` is, as in LangGraph Server, a path (``"./file.py:attr"``) to a LangChain
    ``Embeddings`` or an embedding function, or a LangChain provider string
    (``"openai:text-embedding-3-small"``) given to ``langchain``'s ``init_embeddings``
    (the provider's package, e.g. ``langchain-openai``, and its credentials are yours).
    """
    index = config.store.get("index")
    ttl = config.store.get("ttl")
    if ttl is not None and not isinstance(ttl, dict):
        raise ConfigError(f'{config.path}: "store.ttl" must be an object')
    if index is None:
        return None, ttl
    if not isinstance(index, dict) or not isinstance(index.get("dims"), int):
        raise ConfigError(f'{config.path}: "store.index" needs "dims" (an integer) and "embed"')
    embed = index.get("embed")
    if not isinstance(embed, str) or ":" not in embed:
        raise ConfigError(
            f'{config.path}: "store.index.embed" must be "./file.py:attribute" naming an'
            f" Embeddings object or function, or a provider string such as"
            f' "openai:text-embedding-3-small"; got {embed!r}'
        )
    if ".py:" not in embed:
        return {**index, "embed": _provider_embeddings(config, embed)}, ttl
    file_part, _, attr = embed.rpartition(":")
    target = (config.path.parent / file_part).resolve()
    try:
        module = import_file(target)
    except Exception as err:
        raise ConfigError(f"{config.path}: cannot import {target}: {err}") from err
    if not hasattr(module, attr):
        raise ConfigError(f"{config.path}: {target} has no attribute {attr!r}")
    return {**index, "embed": getattr(module, attr)}, ttl


def _provider_embeddings(config: ProjectConfig, embed: str) -> Any:
    """``"provider:model"`` through LangChain's ``init_embeddings``; a missing provider
    package, an unknown provider or a model that refuses its settings is a config error."""
    import warnings

    from langchain.embeddings import init_embeddings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "init_embeddings is in beta"
            return init_embeddings(embed)
    except Exception as err:  # ImportError, ValueError, the provider's own validation
        raise ConfigError(f'{config.path}: "store.index.embed" {embed!r}: {err}') from err
