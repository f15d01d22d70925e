"""Temporal's OpenTelemetry interceptor, with the workflow's marker spans left out.

Temporal's :class:`~temporalio.contrib.opentelemetry.TracingInterceptor` records, inside a
workflow, a zero-length span for every activity it schedules (``StartActivity:...``) and
one when it completes (``CompleteWorkflow:...``). A three-node run made twelve spans, five
of them such markers, each costing CPU to record and export (``bench/spans.py``: 0.1-0.2
ms each on our two cores) and saying nothing a node's own span does not.
This keeps every other span and the context they carry: an activity's header still holds
the workflow's context, so a node attempt's span is a child of the run's
``StartWorkflow`` span, in the same trace; a failed workflow still gets its
``CompleteWorkflow`` span, with the error.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.contrib.opentelemetry import (
    TracingInterceptor,
    TracingWorkflowInboundInterceptor,
)
from temporalio.worker import WorkflowInterceptorClassInput

# Markers the workflow no longer records as spans (a failure's CompleteWorkflow still is).
_MARKERS = ("StartActivity:", "CompleteWorkflow:")


class LeanWorkflowTracing(TracingWorkflowInboundInterceptor):
    def _completed_span(
        self,
        span_name: str,
        *,
        add_to_outbound: Any = None,
        exception: Exception | None = None,
        **kwargs: Any,
    ) -> None:
        if exception is None and span_name.startswith(_MARKERS):
            # No span; the outbound call still carries the workflow's context, as Temporal's
            # own does (not while replaying: those commands are never sent).
            if add_to_outbound is not None and not workflow.unsafe.is_replaying():
                add_to_outbound.headers = self._context_to_headers(add_to_outbound.headers)
            return
        super()._completed_span(
            span_name, add_to_outbound=add_to_outbound, exception=exception, **kwargs
        )


class LeanTracingInterceptor(TracingInterceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the span extern it needs
        return LeanWorkflowTracing
