"""deploy/k8s: every manifest against the Kubernetes JSON schemas of a pinned version (strict:
unknown fields are errors), bundled by the PyPI package kubernetes-validate (offline), and the
references between the manifests. With ``kubectl`` installed, the kustomize rendering is
validated too (``kubectl kustomize`` runs offline)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.helpers import (
    API_PORT,
    IMAGE_UID,
    K8S_DIR,
    WORKER_METRICS_PORT,
    check_cli,
    load_yaml_documents,
    settings_env_names,
    settings_from,
)

#: The Kubernetes version the manifests are validated for.
KUBERNETES_VERSION = "1.31.0"
EXAMPLES = {"secret.example.yaml", "prometheus-scrape.example.yaml"}
KUBECTL = shutil.which("kubectl")

Resource = dict[str, Any]


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def resources() -> dict[tuple[str, str], Resource]:
    """The resources of the kustomization (the examples excluded), by (kind, name)."""
    found: dict[tuple[str, str], Resource] = {}
    for path in manifest_files():
        if path.name in EXAMPLES:
            continue
        for doc in load_yaml_documents(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, key
            found[key] = doc
    return found


def validate(doc: Resource) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_manifest_is_valid_for_the_pinned_kubernetes(path: Path) -> None:
    docs = load_yaml_documents(path)
    assert docs
    for doc in docs:
        validate(doc)  # raises ValidationError, or SchemaNotFoundError for an unknown kind


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda d: d["spec"].update(replica=3), kubernetes_validate.ValidationError),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(
                containerPort="8000"
            ),
            kubernetes_validate.ValidationError,
        ),
        (lambda d: d.update(apiVersion="apps/v1beta9"), kubernetes_validate.SchemaNotFoundError),
    ],
    ids=["unknown-field", "wrong-type", "unknown-api-version"],
)
def test_validation_catches_mistakes(
    resources: dict[tuple[str, str], Resource], mutate: Any, error: type[Exception]
) -> None:
    broken = copy.deepcopy(resources["Deployment", "gpuhours-api"])
    mutate(broken)
    with pytest.raises(error):
        validate(broken)


def test_kustomization_lists_every_manifest_but_the_examples(
    kustomization: dict[str, Any],
) -> None:
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    assert set(listed) == {p.name for p in manifest_files()} - EXAMPLES
    assert kustomization["namespace"] == "gpuhours"
    assert [image["name"] for image in kustomization["images"]] == ["gpuhours"]


def pod_spec(resource: Resource) -> dict[str, Any]:
    return resource["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def container(resource: Resource) -> dict[str, Any]:
    (only,) = pod_spec(resource)["containers"]
    return only  # type: ignore[no-any-return]


def workloads(resources: dict[tuple[str, str], Resource]) -> dict[str, Resource]:
    return {name: r for (kind, name), r in resources.items() if kind in ("Deployment", "Job")}


def test_api_worker_and_migration_commands(resources: dict[tuple[str, str], Resource]) -> None:
    expected = {
        "gpuhours-api": ["serve", "--no-scheduler"],
        "gpuhours-worker": ["worker"],
        "gpuhours-migrate": ["migrate"],
    }
    assert set(workloads(resources)) == set(expected)
    for name, args in expected.items():
        c = container(workloads(resources)[name])
        assert c["command"] == ["gpuhours"] and c["args"] == args, name
        assert c["image"] == "gpuhours", name  # the kustomization's `images` sets the tag
        check_cli(c["args"])


def test_replicas_and_probes(resources: dict[tuple[str, str], Resource]) -> None:
    api = resources["Deployment", "gpuhours-api"]
    worker = resources["Deployment", "gpuhours-worker"]
    assert api["spec"]["replicas"] == 3
    assert worker["spec"]["replicas"] == 2  # one leader (advisory lock), one standby
    c = container(api)
    (port,) = c["ports"]
    assert (port["name"], port["containerPort"]) == ("http", API_PORT)
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # The worker's only HTTP is /metrics (a database read): no probe may kill it over that.
    assert not {"readinessProbe", "livenessProbe", "startupProbe"} & container(worker).keys()
    assert container(worker)["ports"] == [{"name": "metrics", "containerPort": WORKER_METRICS_PORT}]
    job = resources["Job", "gpuhours-migrate"]
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
    assert job["spec"]["backoffLimit"] >= 1


def test_service_and_disruption_budgets_select_the_right_pods(
    resources: dict[tuple[str, str], Resource],
) -> None:
    labels = {
        name: r["spec"]["template"]["metadata"]["labels"]
        for name, r in workloads(resources).items()
    }

    def selects(selector: dict[str, str]) -> set[str]:
        return {n for n, pod in labels.items() if selector.items() <= pod.items()}

    service = resources["Service", "gpuhours-api"]
    assert selects(service["spec"]["selector"]) == {"gpuhours-api"}
    (port,) = service["spec"]["ports"]
    assert port["port"] == API_PORT
    assert port["targetPort"] in [
        p["name"] for p in container(resources["Deployment", "gpuhours-api"])["ports"]
    ]
    for name in ("gpuhours-api", "gpuhours-worker"):
        pdb = resources["PodDisruptionBudget", name]
        assert selects(pdb["spec"]["selector"]["matchLabels"]) == {name}
        assert 0 < pdb["spec"]["maxUnavailable"] < resources["Deployment", name]["spec"]["replicas"]
        deployment = resources["Deployment", name]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels[name].items()


def test_prometheus_annotations_on_the_api_and_worker_pods(
    resources: dict[tuple[str, str], Resource],
) -> None:
    api = resources["Deployment", "gpuhours-api"]
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(API_PORT),
        "prometheus.io/path": "/metrics",
    }
    # The worker: scraped at the port its GPUHOURS_METRICS_PORT opens, on 0.0.0.0.
    worker = resources["Deployment", "gpuhours-worker"]
    env = env_of(resources, worker)
    (port,) = container(worker)["ports"]
    assert worker["spec"]["template"]["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": env["GPUHOURS_METRICS_PORT"],
        "prometheus.io/path": "/metrics",
    }
    assert int(env["GPUHOURS_METRICS_PORT"]) == port["containerPort"] == WORKER_METRICS_PORT
    assert env["GPUHOURS_HOST"] == "0.0.0.0"
    meta = workloads(resources)["gpuhours-migrate"]["spec"]["template"]["metadata"]
    assert "prometheus.io/scrape" not in meta.get("annotations", {})


def test_pods_run_restricted(resources: dict[tuple[str, str], Resource]) -> None:
    namespace = resources["Namespace", "gpuhours"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, workload in workloads(resources).items():
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == IMAGE_UID, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        # Service links would inject GPUHOURS_API_PORT=tcp://...: GPUHOURS_* is our settings.
        assert spec["enableServiceLinks"] is False, name
        security = container(workload)["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name


def secrets_of_the_example() -> dict[str, set[str]]:
    return {
        doc["metadata"]["name"]: set(doc["stringData"])
        for doc in load_yaml_documents(K8S_DIR / "secret.example.yaml")
    }


def test_every_config_map_and_secret_reference_resolves(
    resources: dict[tuple[str, str], Resource],
) -> None:
    config_maps = {
        name: set(r["data"]) for (kind, name), r in resources.items() if kind == "ConfigMap"
    }
    secrets = secrets_of_the_example()
    assert not [key for key in resources if key[0] == "Secret"]  # never in the kustomization
    for name, workload in workloads(resources).items():
        spec, c = pod_spec(workload), container(workload)
        for source in c.get("envFrom", []):
            assert source["configMapRef"]["name"] in config_maps, name
        for var in c.get("env", []):
            if "value" in var:  # a literal (GPUHOURS_METRICS_PORT of the worker)
                continue
            ref = var["valueFrom"]["secretKeyRef"]
            assert ref["key"] in secrets[ref["name"]], (name, var["name"])
        mounted = {m["name"] for m in c["volumeMounts"]}
        assert mounted == {v["name"] for v in spec["volumes"]}, name
        for volume in spec["volumes"]:
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, name
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, name


def env_of(resources: dict[tuple[str, str], Resource], workload: Resource) -> dict[str, str]:
    c = container(workload)
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        env.update(resources["ConfigMap", source["configMapRef"]["name"]]["data"])
    for var in c.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        ref = var["valueFrom"]["secretKeyRef"]
        (example,) = [
            d
            for d in load_yaml_documents(K8S_DIR / "secret.example.yaml")
            if d["metadata"]["name"] == ref["name"]
        ]
        env[var["name"]] = example["stringData"][ref["key"]]
    return env


def mount_of(workload: Resource, path: str) -> tuple[dict[str, Any], str]:
    """The volume holding ``path`` in the workload's container, and the key within it."""
    for mount in container(workload)["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            (volume,) = [v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"]]
            return volume, path[len(prefix) :]
    raise AssertionError(f"nothing mounted at {path}")


def test_environment_is_settings_and_builds_them(
    resources: dict[tuple[str, str], Resource], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, workload in workloads(resources).items():
        env = env_of(resources, workload)
        assert set(env) <= settings_env_names(), name
        assert env["GPUHOURS_HOST"] == "0.0.0.0" and env["GPUHOURS_PORT"] == str(API_PORT)
        # GPUHOURS_CLUSTERS_FILE is a file of a mounted ConfigMap: use its content here.
        volume, key = mount_of(workload, env["GPUHOURS_CLUSTERS_FILE"])
        content = resources["ConfigMap", volume["configMap"]["name"]]["data"][key]
        (tmp_path / "clusters.json").write_text(content)
        # so is GPUHOURS_OIDC_PROVIDERS_FILE (the OpenID Connect providers)
        volume, key = mount_of(workload, env["GPUHOURS_OIDC_PROVIDERS_FILE"])
        oidc = resources["ConfigMap", volume["configMap"]["name"]]["data"][key]
        (tmp_path / "oidc-providers.json").write_text(oidc)
        settings = settings_from(
            {
                **env,
                "GPUHOURS_CLUSTERS_FILE": str(tmp_path / "clusters.json"),
                "GPUHOURS_OIDC_PROVIDERS_FILE": str(tmp_path / "oidc-providers.json"),
            },
            monkeypatch,
        )
        assert settings.database_url.startswith("postgresql+psycopg://")
        assert settings.port == API_PORT
        expected_metrics_port = WORKER_METRICS_PORT if name == "gpuhours-worker" else None
        assert settings.metrics_port == expected_metrics_port, name


def test_the_slurm_key_is_mounted_in_the_worker_where_the_clusters_file_says(
    resources: dict[tuple[str, str], Resource],
) -> None:
    clusters = json.loads(resources["ConfigMap", "gpuhours-clusters"]["data"]["clusters.json"])
    worker = resources["Deployment", "gpuhours-worker"]
    for cluster in clusters:
        volume, key = mount_of(worker, cluster["jwt_key_file"])
        assert volume["secret"]["secretName"] == "gpuhours-slurm"
        assert key in secrets_of_the_example()["gpuhours-slurm"]
        # Readable by the image's group only (fsGroup), never world-readable.
        assert volume["secret"]["defaultMode"] == 0o440
        assert pod_spec(worker)["securityContext"]["fsGroup"] == IMAGE_UID
    for name in ("gpuhours-api", "gpuhours-migrate"):
        volumes = pod_spec(workloads(resources)[name])["volumes"]
        secrets = [v["secret"]["secretName"] for v in volumes if "secret" in v]
        # the API: the OpenID Connect client secret only (optional: absent without SSO)
        assert secrets == (["gpuhours-oidc"] if name == "gpuhours-api" else []), name


def test_the_oidc_client_secret_is_optional_and_mounted_in_the_api_only(
    resources: dict[tuple[str, str], Resource],
) -> None:
    api = resources["Deployment", "gpuhours-api"]
    volume, key = mount_of(api, "/run/secrets/oidc/client-secret")
    assert volume["secret"] == {"secretName": "gpuhours-oidc", "optional": True}
    assert key == "client-secret" and key in secrets_of_the_example()["gpuhours-oidc"]
    example = resources["ConfigMap", "gpuhours-clusters"]["data"]
    assert json.loads(example["oidc-providers.json"]) == []  # API tokens only by default


@pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed: the rendering is not checked"
)
def test_the_kustomize_rendering_is_valid(resources: dict[tuple[str, str], Resource]) -> None:
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "kustomize", str(K8S_DIR)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    rendered = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    assert {(d["kind"], d["metadata"]["name"]) for d in rendered} == set(resources)
    for doc in rendered:
        validate(doc)
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "gpuhours"
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "gpuhours"
        if doc["kind"] in ("Deployment", "Job"):
            assert container(doc)["image"] == "gpuhours:0.1.0"
