"""The webhook activity: POST a finished run to the URL its creator gave."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tempograph.activities.events import Recorder
from tempograph.crypto import unseal_json
from tempograph.webhooks import WebhookRefused, check_url
from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.types import WEBHOOK_ACTIVITY, ErrorType, WebhookDelivery
from tempograph.workflows.values import decode, table_source


class WebhookSender:
    """Delivers webhooks; the URL is checked again here (DNS may have changed)."""

    def __init__(self, recorder: Recorder, *, allow_private: bool = False) -> None:
        self._recorder = recorder
        self._allow_private = allow_private

    @activity.defn(name=WEBHOOK_ACTIVITY)
    async def deliver(self, delivery: WebhookDelivery) -> None:
        try:
            await check_url(delivery.url, allow_private=self._allow_private)
        except WebhookRefused as err:
            raise ApplicationError(
                str(err), type=ErrorType.WEBHOOK_REFUSED, non_retryable=True
            ) from None
        payload = await self._payload(delivery)
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
            response = await http.post(delivery.url, json=payload)
        if response.status_code >= 400:
            # Retried by the webhook workflow's policy; a 4xx will likely stay one, but the
            # receiver may be deploying.
            raise ApplicationError(
                f"webhook {delivery.url} answered {response.status_code}", type="WebhookFailed"
            )

    async def _payload(self, delivery: WebhookDelivery) -> dict[str, Any]:
        """The run as the API shows it, with its final status, values and error."""
        pool = await self._recorder.pool()
        row = await pool.fetchrow(
            "SELECT run_id, thread_id, assistant_id, created_at, updated_at, metadata, kwargs,"
            " multitask_strategy FROM runs WHERE run_id = $1",
            UUID(delivery.run_id),
        )
        run: dict[str, Any] = {"run_id": delivery.run_id, "thread_id": delivery.thread_id}
        if row is not None:
            run = {
                key: str(value) if isinstance(value, UUID) else value
                for key, value in dict(row).items()
            }
            for key in ("created_at", "updated_at"):
                run[key] = row[key].isoformat()
            for key in ("metadata", "kwargs"):
                if isinstance(run[key], str):
                    run[key] = json.loads(run[key])
            run["kwargs"] = unseal_json(run["kwargs"])
        run["status"] = delivery.status
        run["values"] = (
            to_jsonable(decode(delivery.values, table_source(delivery.parts)))
            if delivery.values is not None
            else None
        )
        if delivery.error is not None:
            run["error"] = {
                "error": delivery.error.get("type", "Error"),
                "message": delivery.error.get("message", ""),
            }
        run["webhook_sent_at"] = datetime.now(UTC).isoformat()
        return run
