"""The Helm chart (deploy/helm/tempograph), validated offline: ``helm lint``, ``helm
template`` with the default values and both examples, ``kubeconform`` against
Kubernetes' own schemas (from the kubernetes-validate wheel), and the KEDA objects
against @kubernetes-models/keda's. helm and kubeconform are built from their Go modules
by scripts/setup (scripts/tools/k8s), the npm package installed there too."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "tempograph"
EXAMPLES = ROOT / "deploy" / "helm" / "examples"
K8S_TOOLS = ROOT / "scripts" / "tools" / "k8s"
TOOLS = Path(os.environ.get("TEMPOGRAPH_TOOLS_DIR", Path.home() / ".cache" / "tempograph"))
HELM = TOOLS / "k8s" / "bin" / "helm"
KUBECONFORM = TOOLS / "k8s" / "bin" / "kubeconform"
KUBERNETES = "1.33.0"
# Values the chart needs from every user: where the secrets are.
SECRET = ["--set", "secrets.existingSecret=tempograph"]


def run(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], input=stdin, capture_output=True, text=True, timeout=120
    )


def render(*args: str | Path) -> list[dict[str, Any]]:
    done = run(HELM, "template", "demo", CHART, "--kube-version", KUBERNETES, *args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def named(docs: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    [found] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    return found


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# A reference into the wheel's shared definitions ("/api/_definitions.json#/$defs/X", a
# path kubeconform cannot resolve) or, inside them, to another definition ("#/$defs/X").
_REF = re.compile(r'"(?:(?:/api/)?_definitions\.json)?#/\$defs/([^"]+)"')


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kubernetes' schemas from the kubernetes-validate wheel, in kubeconform's layout, each
    made self-contained: the definitions it uses, transitively, copied into its ``$defs``."""
    source = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    target = tmp_path_factory.mktemp("schemas")
    for flavour in ("local", "local-strict"):
        here = source / f"v{KUBERNETES}-{flavour}"
        into = target / here.name
        into.mkdir()
        shared = json.loads((here / "_definitions.json").read_text())["$defs"]
        for schema in here.glob("*.json"):
            if schema.name.startswith("_") or schema.name == "all.json":
                continue
            text = schema.read_text()
            needed: set[str] = set()
            todo = _REF.findall(text)
            while todo:
                name = todo.pop()
                if name not in needed:
                    needed.add(name)
                    todo += _REF.findall(json.dumps(shared[name]))
            local = lambda found: f'"#/$defs/{found[1]}"'  # noqa: E731
            bundled = json.loads(_REF.sub(local, text))
            bundled["$defs"] = json.loads(
                _REF.sub(local, json.dumps({name: shared[name] for name in needed}))
            )
            (into / schema.name).write_text(json.dumps(bundled))
    return target


def kubeconform(schemas: Path, manifests: str) -> subprocess.CompletedProcess[str]:
    location = (
        f"{schemas}/{{{{ .NormalizedKubernetesVersion }}}}-local{{{{ .StrictSuffix }}}}"
        "/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )
    return run(
        KUBECONFORM,
        "-strict",
        "-summary",
        "-kubernetes-version",
        KUBERNETES,
        "-schema-location",
        location,
        "-skip",
        "ScaledObject,TriggerAuthentication",  # KEDA's: validated by its own schemas below
        stdin=manifests,
    )


def test_the_tools_are_installed() -> None:
    assert HELM.exists() and KUBECONFORM.exists(), "run ./scripts/setup"
    assert (K8S_TOOLS / "node_modules" / "@kubernetes-models" / "keda").exists()


VERSIONED = [*SECRET, "--set", "worker.buildId=v2,worker.promote=true,api.enabled=false"]


@pytest.mark.parametrize(
    "args",
    [
        SECRET,
        ["-f", EXAMPLES / "self-hosted.yaml"],
        ["-f", EXAMPLES / "temporal-cloud.yaml"],
        VERSIONED,
    ],
    ids=["defaults", "self-hosted", "temporal-cloud", "a-version-release"],
)
def test_the_chart_lints_renders_and_validates(args: list[str | Path], schemas: Path) -> None:
    lint = run(HELM, "lint", "--strict", CHART, *args)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    done = run(HELM, "template", "demo", CHART, "--kube-version", KUBERNETES, *args)
    assert done.returncode == 0, done.stderr
    checked = kubeconform(schemas, done.stdout)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    summary = re.search(r"(\d+) resources found.*Valid: (\d+), Invalid: (\d+)", checked.stdout)
    assert summary, checked.stdout
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    keda = [d for d in docs if d["apiVersion"] == "keda.sh/v1alpha1"]
    # Every built-in object checked and valid, none skipped for want of a schema.
    assert int(summary[2]) == len(docs) - len(keda) and int(summary[3]) == 0, checked.stdout
    validated = run("node", K8S_TOOLS / "validate-keda.mjs", stdin=json.dumps(keda))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert validated.stdout.count(": valid") == len(keda) > 0


def test_a_bad_object_is_caught(schemas: Path) -> None:
    """Both checks can fail: kubeconform on a built-in kind (a field that does not exist,
    a count that is not a number), the KEDA check on a trigger's non-string metadata."""
    docs = render(*SECRET)
    api = named(docs, "Deployment", "-api")
    api["spec"]["replicas"] = "two"
    api["spec"]["template"]["spec"]["containers"][0]["comand"] = ["typo"]
    checked = kubeconform(schemas, yaml.safe_dump(api))
    assert checked.returncode == 1, checked.stdout
    assert "Invalid: 1" in checked.stdout and "comand" in checked.stdout, checked.stdout
    scaled = named(docs, "ScaledObject")
    scaled["spec"]["triggers"][0]["metadata"]["targetQueueSize"] = 5
    validated = run("node", K8S_TOOLS / "validate-keda.mjs", stdin=json.dumps([scaled]))
    assert validated.returncode == 1 and "must be string" in validated.stdout


def test_defaults_the_api_replicated_and_the_workers_drained_and_scaled() -> None:
    docs = render(*SECRET, "--set", "worker.nodeQueues={gpu}")
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "Deployment",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "ScaledObject",
            "Service",
        ]
    )
    config = named(docs, "ConfigMap")
    assert json.loads(config["data"]["langgraph.json"])["graphs"] == {"agent": "./agent.py:graph"}
    api = named(docs, "Deployment", "-api")["spec"]["template"]["spec"]
    [api_container] = api["containers"]
    assert api_container["command"][:2] == ["tempograph", "api"]
    assert "0.0.0.0" in api_container["command"]
    api_env = env_of(api_container)
    assert api_env["TEMPOGRAPH_AUTH"] == "keys"  # a production API refuses to start without
    for secret in ("DATABASE_URL", "TEMPOGRAPH_ENCRYPTION_KEYS"):
        assert api_env[secret] == {"secretKeyRef": {"name": "tempograph", "key": secret}}
    assert api_container["readinessProbe"]["httpGet"]["path"] == "/ok?check_db=1"
    assert named(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert named(docs, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 2
    worker = named(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    [worker_container] = worker["containers"]
    drain = float(env_of(worker_container)["TEMPOGRAPH_GRACEFUL_SHUTDOWN_SECONDS"])
    assert worker["terminationGracePeriodSeconds"] > drain == 300
    assert "replicas" not in named(docs, "Deployment", "-worker")["spec"]  # KEDA's to set
    triggers = named(docs, "ScaledObject")["spec"]["triggers"]
    assert [t["metadata"]["taskQueue"] for t in triggers] == ["tempograph", "gpu"]
    assert {t["type"] for t in triggers} == {"temporal"}
    # langgraph.json lands beside the image's code, so "./agent.py" resolves there.
    mounts = {m["name"]: m for m in worker_container["volumeMounts"]}
    assert mounts["config"]["mountPath"] == "/app/langgraph.json"


def test_temporal_cloud_uses_the_api_key_for_workers_and_the_scaler() -> None:
    docs = render("-f", EXAMPLES / "temporal-cloud.yaml")
    worker = named(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(worker)["TEMPORAL_API_KEY"] == {
        "secretKeyRef": {"name": "tempograph", "key": "TEMPORAL_API_KEY"}
    }
    auth = named(docs, "TriggerAuthentication")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "apiKey", "name": "tempograph", "key": "TEMPORAL_API_KEY"}
    ]
    [trigger] = named(docs, "ScaledObject")["spec"]["triggers"]
    assert trigger["metadata"]["enableTLS"] == "true"
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}


def test_mtls_mounts_the_client_certificate_and_hands_it_to_keda() -> None:
    docs = render(*SECRET, "--set", "temporal.mtls.secretName=temporal-client")
    worker = named(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    env = env_of(worker["containers"][0])
    assert env["TEMPORAL_TLS_CERT"] == "/etc/tempograph/temporal-tls/tls.crt"
    assert {"name": "temporal-tls", "secret": {"secretName": "temporal-client"}} in worker[
        "volumes"
    ]
    refs = named(docs, "TriggerAuthentication")["spec"]["secretTargetRef"]
    parameters = [r["parameter"] for r in refs]
    assert parameters == ["cert", "key", "ca"]


def test_a_version_release_carries_pinned_workers_scaled_by_their_version() -> None:
    docs = render(*VERSIONED)
    assert {d["kind"] for d in docs} == {"ConfigMap", "Deployment", "ScaledObject"}  # no API
    worker = named(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"][-1] == "--promote"
    env = env_of(worker)
    assert (env["TEMPOGRAPH_BUILD_ID"], env["TEMPOGRAPH_DEPLOYMENT"]) == ("v2", "tempograph")
    [trigger] = named(docs, "ScaledObject")["spec"]["triggers"]
    assert trigger["metadata"]["workerDeploymentBuildId"] == "v2"
    assert trigger["metadata"]["workerDeploymentName"] == "tempograph"
    api_only = render(*SECRET, "--set", "worker.enabled=false")
    assert {d["kind"] for d in api_only} == {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Service",
    }
    assert named(api_only, "Deployment")["metadata"]["name"].endswith("-api")
    refused = run(
        HELM,
        "template",
        "demo",
        CHART,
        "--kube-version",
        KUBERNETES,
        *SECRET,
        "--set",
        "worker.buildId=auto",
    )
    assert refused.returncode != 0 and "give an explicit id" in refused.stderr


def test_without_secrets_the_chart_says_what_it_needs() -> None:
    done = run(HELM, "template", "demo", CHART, "--kube-version", KUBERNETES)
    assert done.returncode != 0
    assert "secrets: name an existingSecret" in done.stderr
