"""Safe deploys with Temporal's Worker Versioning.

A worker started with a build id (``tempograph worker --build-id ID``, or ``auto``: a hash
of the code it runs) joins the Worker Deployment named by ``--deployment`` (default: its
task queue) as version ``<deployment>.<build id>``. Its workflows are *pinned*: a run
stays on the version it started on for its whole life, also while it waits days at an
``interrupt()``, so a changed graph never replays a history it did not write. New runs go
to the deployment's current version; ``--promote`` makes the starting worker's version
current once it polls. Node activities a pinned run schedules go to workers of the same
version, on every task queue.

The rollout: start the new version's workers (``--promote``, or promote later with
``temporal worker deployment set-current-version``), keep the old version's workers
running until ``temporal worker deployment describe-version`` shows it drained (no pinned
run left), then stop them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from tempograph.errors import ErrorCode, TempographError

logger = logging.getLogger(__name__)

AUTO = "auto"


def deployment_config(version: WorkerDeploymentVersion) -> WorkerDeploymentConfig:
    """A versioned worker's settings: every workflow pinned to the version it started on."""
    return WorkerDeploymentConfig(
        version=version,
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


def code_build_id(config_path: Path, roots: Iterable[Path]) -> str:
    """A build id derived from the code a worker runs: its langgraph.json, every module it
    imported from the project (``roots``: the file's folder and its dependencies), and
    Tempograph's own workflow code. Same code, same id; any change, a new one."""
    import tempograph
    from tempograph import workflows

    digest = hashlib.sha256()
    digest.update(tempograph.__version__.encode())
    digest.update(config_path.read_bytes())
    folders = [r.resolve() for r in roots]
    ours = Path(workflows.__path__[0]).resolve()
    # Each file by its path inside its root: the same project installed elsewhere hashes
    # the same.
    files: dict[str, Path] = {f"tempograph/{p.name}": p for p in ours.glob("*.py")}
    for module in list(sys.modules.values()):
        found = getattr(module, "__file__", None)
        if not found:
            continue
        path = Path(found).resolve()
        for index, folder in enumerate(folders):
            if path.is_relative_to(folder) and not _installed(path):
                files[f"{index}/{path.relative_to(folder).as_posix()}"] = path
                break
    for key in sorted(files):
        digest.update(key.encode())
        digest.update(files[key].read_bytes())
    return f"code-{digest.hexdigest()[:12]}"


def _installed(path: Path) -> bool:
    """A third-party package inside the project (a virtualenv in its folder)."""
    return "site-packages" in path.parts or "dist-packages" in path.parts


async def promote(client: Client, version: WorkerDeploymentVersion, *, wait: float = 60.0) -> bool:
    """Make ``version`` its deployment's current version, so that new runs start on it;
    whether it did. A version that was current before (an old version's worker
    restarting, after a newer one took over) is left alone: rolling back is an
    operator's choice (``temporal worker deployment set-current-version``). The server
    knows a version once one of its workers has polled, so this waits (up to ``wait``
    seconds) for that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    name = version.to_canonical_string()
    while True:
        try:
            found = await client.workflow_service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(
                    namespace=client.namespace, deployment_name=version.deployment_name
                ),
                timeout=timedelta(seconds=10),
            )
            info = found.worker_deployment_info
            mine = [
                s
                for s in info.version_summaries
                if s.deployment_version.build_id == version.build_id
            ]
            if mine:
                current = info.routing_config.current_deployment_version.build_id
                if current == version.build_id:
                    return True
                if mine[0].HasField("first_activation_time"):
                    logger.warning(
                        "not promoting %s: it was current before and %s is now", name, current
                    )
                    return False
                await client.workflow_service.set_worker_deployment_current_version(
                    SetWorkerDeploymentCurrentVersionRequest(
                        namespace=client.namespace,
                        deployment_name=version.deployment_name,
                        build_id=version.build_id,
                        identity=client.identity,
                    ),
                    timeout=timedelta(seconds=10),
                )
                logger.info("promoted %s: new runs start on it", name)
                return True
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND or loop.time() > deadline:
                raise TempographError(
                    f"could not promote {name}: {err.message}", code=ErrorCode.SERVER_UNAVAILABLE
                ) from err
        if loop.time() > deadline:
            raise TempographError(
                f"could not promote {name}: Temporal did not list it within {wait:g} s",
                code=ErrorCode.SERVER_UNAVAILABLE,
            )
        await asyncio.sleep(0.5)
