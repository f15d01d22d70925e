"""Circuit breakers per dependency, shared by every worker through Postgres.

A node's policy names the dependency it calls (``"breaker": "openai"``), or its task
queue does (``tempograph.breakers.<name>.task_queues``). After ``failures`` failed
attempts within ``window`` seconds the breaker opens: attempts of every node behind it,
on every worker, fail fast with a retryable ``CircuitOpen`` error before the node body
runs, so Temporal's retry policy backs them off and nothing reaches the dependency.
``cool_down`` seconds after it opened, one attempt is let through as a trial
(half-open): its success closes the breaker, its failure opens it again. A trial whose
worker died is replaced after another cool-down.

Why not a library: pybreaker and aiobreaker keep their state in the process or in
Redis; our workers share Postgres, and a breaker must be one for all of them. The state
machine is small; its row is changed under a row lock, with Postgres's clock, so
workers on machines with skewed clocks agree.

langgraph.json::

    "tempograph": {"breakers": {"openai": {"failures": 5, "window": 60, "cool_down": 30,
                                           "errors": ["RateLimitError"],
                                           "task_queues": ["llm"]}}}

``errors`` (optional) limits what counts as the dependency failing to those exception
types (by class name, or the name of a base class); by default every error does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg

from tempograph.errors import ConfigError
from tempograph.metrics import BREAKER_REJECTED, BREAKER_STATE, BREAKER_TRANSITIONS

logger = logging.getLogger(__name__)

CIRCUIT_OPEN = "CircuitOpen"  # the error type of an attempt refused by an open breaker
STATES = ("closed", "half_open", "open")  # the state gauge's values: 0, 1, 2
_KEYS = {"failures", "window", "cool_down", "errors", "task_queues"}


@dataclass(frozen=True)
class BreakerSettings:
    failures: int = 5
    window: float = 60.0
    cool_down: float = 30.0
    errors: tuple[str, ...] = ()  # empty: every error counts
    task_queues: tuple[str, ...] = ()

    def counts(self, error: BaseException) -> bool:
        """Whether ``error`` is the dependency failing (an ``ApplicationError`` a node
        raised itself is matched by its ``type`` too)."""
        if not self.errors:
            return True
        if getattr(error, "type", None) in self.errors:
            return True
        return any(klass.__name__ in self.errors for klass in type(error).__mro__)


@dataclass(frozen=True)
class BreakerConfig:
    """``tempograph.breakers``: settings by name (unlisted names get the defaults)."""

    settings: Mapping[str, BreakerSettings] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any, where: str) -> BreakerConfig:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ConfigError(
                f'{where}: "tempograph.breakers" must map dependency names to settings'
            )
        settings: dict[str, BreakerSettings] = {}
        queues: dict[str, str] = {}
        for name, spec in raw.items():
            at = f"{where}: tempograph.breakers.{name}"
            if not isinstance(spec, dict):
                raise ConfigError(f"{at} must be an object")
            unknown = set(spec) - _KEYS
            if unknown:
                raise ConfigError(f"{at}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
            failures = spec.get("failures", BreakerSettings.failures)
            if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
                raise ConfigError(f"{at}.failures must be an integer >= 1")
            seconds: dict[str, float] = {}
            for key in ("window", "cool_down"):
                value = spec.get(key, getattr(BreakerSettings, key))
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ConfigError(f"{at}.{key} must be a positive number of seconds")
                seconds[key] = float(value)
            lists: dict[str, tuple[str, ...]] = {}
            for key in ("errors", "task_queues"):
                value = spec.get(key, [])
                if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                    raise ConfigError(f"{at}.{key} must be a list of names")
                lists[key] = tuple(value)
            for queue in lists["task_queues"]:
                if queue in queues:
                    raise ConfigError(
                        f"{at}: task queue {queue!r} already defaults to breaker {queues[queue]!r}"
                    )
                queues[queue] = name
            settings[name] = BreakerSettings(
                failures,
                seconds["window"],
                seconds["cool_down"],
                lists["errors"],
                lists["task_queues"],
            )
        return cls(settings)

    def of(self, name: str) -> BreakerSettings:
        return self.settings.get(name) or BreakerSettings()

    def for_queue(self, task_queue: str) -> str | None:
        """The breaker a task queue's nodes are behind when their policy names none."""
        for name, settings in self.settings.items():
            if task_queue in settings.task_queues:
                return name
        return None


@dataclass(frozen=True)
class Admission:
    admitted: bool
    state: str  # what the breaker was: closed, open or half_open
    trial: bool = False  # this attempt is the half-open trial
    retry_in: float = 0.0  # seconds until a trial may go through, when refused


class Breakers:
    """The breakers' shared state (table ``breakers``), for node attempts and the API."""

    def __init__(self, pool: Callable[[], Awaitable[asyncpg.Pool]], config: BreakerConfig) -> None:
        self._pool = pool  # the current pool (a Recorder's or the API's Database.pool)
        self.config = config

    async def admit(self, name: str) -> Admission:
        """Whether an attempt may call the dependency now. An open breaker whose
        cool-down has passed (or a trial that never reported back) admits this one
        attempt as its trial."""
        cool_down = self.config.of(name).cool_down
        row = await (await self._pool()).fetchrow(
            """
            WITH trial AS (
                UPDATE breakers SET state = 'half_open', opened_at = clock_timestamp(),
                    changed_at = clock_timestamp()
                WHERE name = $1 AND state <> 'closed'
                  AND opened_at <= clock_timestamp() - make_interval(secs => $2)
                RETURNING name
            )
            SELECT b.state, EXISTS (SELECT 1 FROM trial) AS trial,
                extract(epoch FROM b.opened_at + make_interval(secs => $2)
                    - clock_timestamp()) AS retry_in
            FROM breakers b WHERE b.name = $1
            """,
            name,
            cool_down,
        )
        if row is None or row["state"] == "closed":
            return Admission(True, "closed")
        if row["trial"]:
            self._changed(name, row["state"], "half_open", "cool-down over: one trial attempt")
            return Admission(True, row["state"], trial=True)
        BREAKER_REJECTED.labels(name).inc()
        return Admission(False, row["state"], retry_in=max(0.0, float(row["retry_in"] or 0)))

    async def failed(self, name: str, error: BaseException, *, trial: bool = False) -> None:
        """An admitted attempt failed: count it; open the breaker at the threshold, or
        again when it was the trial (an attempt admitted before the breaker opened does
        not decide a half-open breaker)."""
        settings = self.config.of(name)
        if not settings.counts(error):
            return
        message = f"{type(error).__name__}: {error}"[:500]
        async with (await self._pool()).acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO breakers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", name
            )
            row = await connection.fetchrow(
                "SELECT state, failures, clock_timestamp() - window_start"
                " > make_interval(secs => $2) AS expired FROM breakers WHERE name = $1"
                " FOR UPDATE",
                name,
                settings.window,
            )
            assert row is not None
            failures = 1 if row["expired"] else row["failures"] + 1
            state = row["state"]
            opens = (state == "half_open" and trial) or (
                state == "closed" and failures >= settings.failures
            )
            await connection.execute(
                """
                UPDATE breakers SET failures = $2, last_error = $3,
                    window_start = CASE WHEN $4 THEN clock_timestamp() ELSE window_start END,
                    state = CASE WHEN $5 THEN 'open' ELSE state END,
                    opened_at = CASE WHEN $5 THEN clock_timestamp() ELSE opened_at END,
                    changed_at = CASE WHEN $5 THEN clock_timestamp() ELSE changed_at END
                WHERE name = $1
                """,
                name,
                failures,
                message,
                row["expired"],
                opens,
            )
        if opens:
            why = (
                "the trial attempt failed"
                if state == "half_open"
                else f"{failures} failures within {settings.window:g} s"
            )
            self._changed(name, state, "open", f"{why}; last: {message}")

    async def succeeded(self, name: str, *, trial: bool = False) -> None:
        """An admitted attempt succeeded: if it was the trial, the breaker closes."""
        if not trial:
            return
        closed = await (await self._pool()).fetchval(
            "UPDATE breakers SET state = 'closed', failures = 0,"
            " window_start = clock_timestamp(), changed_at = clock_timestamp()"
            " WHERE name = $1 AND state = 'half_open' RETURNING name",
            name,
        )
        if closed:
            self._changed(name, "half_open", "closed", "the trial attempt succeeded")

    async def describe(self) -> list[dict[str, Any]]:
        """Every breaker that has state, and every configured one, for ``GET /breakers``."""
        rows = await (await self._pool()).fetch(
            "SELECT name, state, failures, window_start, opened_at, changed_at, last_error"
            " FROM breakers ORDER BY name"
        )
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            settings = self.config.of(row["name"])
            trial_after = None
            if row["state"] != "closed" and row["opened_at"] is not None:
                trial_after = (row["opened_at"] + timedelta(seconds=settings.cool_down)).isoformat()
            found[row["name"]] = {
                "name": row["name"],
                "state": row["state"],
                "failures": row["failures"],
                "window_started_at": row["window_start"].isoformat(),
                "opened_at": row["opened_at"].isoformat() if row["opened_at"] else None,
                "trial_after": trial_after,
                "changed_at": row["changed_at"].isoformat(),
                "last_error": row["last_error"],
            }
        for name in self.config.settings:
            found.setdefault(name, {"name": name, "state": "closed", "failures": 0})
        out = []
        for name in sorted(found):
            settings = self.config.of(name)
            entry = found[name]
            entry["settings"] = {
                "failures": settings.failures,
                "window": settings.window,
                "cool_down": settings.cool_down,
                "errors": list(settings.errors),
                "task_queues": list(settings.task_queues),
            }
            BREAKER_STATE.labels(name).set(STATES.index(entry["state"]))
            out.append(entry)
        return out

    @staticmethod
    def _changed(name: str, before: str, after: str, why: str) -> None:
        BREAKER_TRANSITIONS.labels(name, after).inc()
        BREAKER_STATE.labels(name).set(STATES.index(after))
        log = logger.warning if after == "open" else logger.info
        log("breaker %s: %s -> %s (%s)", name, before, after, why)


@dataclass(frozen=True)
class Breaker:
    """One dependency's breaker, as a node attempt uses it. Recording an outcome never
    fails the attempt: a node that did its work is not run again because Postgres
    hiccupped, and a failing node's own error is the one that reaches Temporal."""

    breakers: Breakers
    name: str

    async def admit(self) -> Admission:
        return await self.breakers.admit(self.name)

    async def failed(self, error: BaseException, *, trial: bool) -> None:
        try:
            await self.breakers.failed(self.name, error, trial=trial)
        except Exception as err:  # noqa: BLE001 - see the class docstring
            logger.warning("breaker %s: failure not recorded: %s", self.name, err)

    async def succeeded(self, *, trial: bool) -> None:
        try:
            await self.breakers.succeeded(self.name, trial=trial)
        except Exception as err:  # noqa: BLE001 - see the class docstring
            logger.warning("breaker %s: success not recorded: %s", self.name, err)
