"""Wall-time wrappers for ``bench/phases.py``: loaded by a ``tempograph up`` started with
this folder on ``PYTHONPATH`` and ``TEMPOGRAPH_PHASES`` naming a file. Each listed
function is wrapped as its module finishes importing; calls and wall time per function
are written to that file every second, as JSON. Nothing here runs without the variable."""

from __future__ import annotations

import builtins
import functools
import importlib
import json
import os
import sys
import threading
import time
from typing import Any

# module: coroutine functions (dotted within the module) to time.
WRAPPED = {
    "tempograph.api.services.runs": ["create_run"],
    "tempograph.api.services.checks": ["assistant"],
    "tempograph.runs": ["admit"],
    "tempograph.starter": ["RunStarter.start"],
    "tempograph.checkpoint_rows": ["load_start_rows"],
    "temporalio.client._client": ["Client.start_workflow"],
    "temporalio.worker._workflow": ["_WorkflowWorker._handle_activation"],
    "temporalio.worker._activity": ["_ActivityWorker._execute_activity"],
    "temporalio.bridge.worker": [
        "encode_completion",
        "decode_activation",
        "Worker.complete_workflow_activation",
        "Worker.complete_activity_task",
    ],
    "tempograph.activities.nodes": ["NodeActivities.execute_node", "NodeActivities._execute"],
    "tempograph.activities.events": [
        "Recorder.before_node",
        "Recorder.record_attempt",
        "Recorder.finish_run",
    ],
}
SYNC = {"temporalio.worker._workflow_instance": ["_WorkflowInstanceImpl.activate"]}


def _install(path: str) -> None:
    stats: dict[str, list[float]] = {}
    lock = threading.Lock()

    def record(name: str, seconds: float) -> None:
        with lock:
            entry = stats.setdefault(name, [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

    def dump_forever() -> None:
        while True:
            time.sleep(1)
            with lock:
                text = json.dumps(stats)
            with open(path, "w") as out:
                out.write(text)

    def wrap(module: Any, dotted: str, is_async: bool) -> None:
        *owners, attr = dotted.split(".")
        owner = module
        for name in owners:
            owner = getattr(owner, name)
        original = getattr(owner, attr)
        label = f"{module.__name__.rsplit('.', 1)[-1]}:{dotted}"
        if is_async:

            @functools.wraps(original)
            async def timed(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    record(label, time.perf_counter() - start)
        else:

            @functools.wraps(original)
            def timed(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    record(label, time.perf_counter() - start)

        setattr(owner, attr, timed)

    pending = {m: (n, True) for m, n in WRAPPED.items()}
    pending.update({m: (n, False) for m, n in SYNC.items()})
    real_import = builtins.__import__

    def importing(name: str, *args: Any, **kwargs: Any) -> Any:
        found = real_import(name, *args, **kwargs)
        for module_name in list(pending):
            module = sys.modules.get(module_name)
            if module is None or getattr(module.__spec__, "_initializing", False):
                continue  # not imported yet, or still importing
            names, is_async = pending.pop(module_name)
            for dotted in names:
                wrap(module, dotted, is_async)
        return found

    builtins.__import__ = importing
    importlib.invalidate_caches()
    threading.Thread(target=dump_forever, name="phases", daemon=True).start()


if os.environ.get("TEMPOGRAPH_PHASES"):
    _install(os.environ["TEMPOGRAPH_PHASES"])
