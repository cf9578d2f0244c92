"""The deployment files agree with the code: settings, image, ports, probes, grace periods.

Plain, offline checks of deploy/, the Dockerfile and deploy/deploy.mk (`make check-deploy`
runs them too, next to the schema and policy checks).
"""

from __future__ import annotations

import inspect
import ipaddress
import os
import re
import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp import web

from paysys import config_docs
from paysys.api import app as api
from paysys.api.health import add_health_routes
from paysys.config import Settings
from paysys.ops import iam

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "k8s" / "base"
KIND = DEPLOY / "kind"
KEDA = KIND / "keda"
AWS = DEPLOY / "aws"
# The overlays of deploy/k8s/base: what the pods get, on kind and on EKS.
OVERLAYS = pytest.mark.parametrize("overlay", [KIND, AWS], ids=["kind", "aws"])
COMPOSE = DEPLOY / "localstack" / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"

# The settings a container reads, and what the code says each one means.
SETTING_NAMES = {doc.env for doc in config_docs.describe()}


# --- loading --------------------------------------------------------------------------------


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kubectl() -> str:
    """The pinned kubectl of `make check-deploy` (deploy/.tools), else the one on PATH."""
    pinned = DEPLOY / ".tools" / "venv" / "bin" / "kubectl"
    found = str(pinned) if pinned.exists() else shutil.which("kubectl")
    if found is None:
        message = "no kubectl to render the kustomizations: `make check-deploy` installs one"
        if os.environ.get("CHECK_DEPLOY") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@cache
def rendered(directory: Path) -> tuple[dict[str, Any], ...]:
    """The objects `kubectl kustomize DIRECTORY` renders: what `kubectl apply -k` would apply."""
    out = subprocess.run(
        [kubectl(), "kustomize", str(directory)], check=True, capture_output=True, text=True
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def objects(kind: str, directory: Path = KIND) -> list[dict[str, Any]]:
    return [doc for doc in rendered(directory) if doc["kind"] == kind]


def one(kind: str, name: str, directory: Path = KIND) -> dict[str, Any]:
    found = [doc for doc in objects(kind, directory) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def configmap(directory: Path = KIND) -> dict[str, str]:
    data: dict[str, str] = one("ConfigMap", "paysys-config", directory)["data"]
    return data


def workload_objects(directory: Path = KIND) -> list[dict[str, Any]]:
    """The Deployments and the Job."""
    return [doc for doc in rendered(directory) if doc["kind"] in {"Deployment", "Job"}]


def pod_specs(directory: Path = KIND) -> list[tuple[str, dict[str, Any]]]:
    """(kind/name, pod spec) of every workload."""
    return [
        (f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"])
        for doc in workload_objects(directory)
    ]


def workloads(directory: Path = KIND) -> list[tuple[str, dict[str, Any]]]:
    """(component, pod template) of every workload."""
    return [
        (doc["metadata"]["labels"]["app.kubernetes.io/component"], doc["spec"]["template"])
        for doc in workload_objects(directory)
    ]


def container(deployment: str, directory: Path = KIND) -> dict[str, Any]:
    template = one("Deployment", deployment, directory)["spec"]["template"]
    containers = template["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def make_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:?=\s*(\S+)\s*$", (DEPLOY / "deploy.mk").read_text(), re.M)
    assert match, f"{name} is not set in deploy/deploy.mk"
    return match.group(1)


def image() -> str:
    return f"{make_variable('IMAGE_NAME')}:{make_variable('IMAGE_TAG')}"


def settings_from_configmap(directory: Path = KIND) -> Settings:
    return Settings.from_env(configmap(directory))


def port_number(spec: dict[str, Any], port: int | str) -> int:
    """A probe's or a Service's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in spec.get("ports", []) if p.get("name") == port]
    assert numbers, f"no container port named {port!r}"
    return int(numbers[0])


def app_routes(app: web.Application) -> set[str]:
    return {route.resource.canonical for route in app.router.routes() if route.resource}


def api_app() -> web.Application:
    """The real API application, built with inert dependencies (routes only)."""
    arguments: dict[str, Any] = {}
    for name in inspect.signature(api.create_app).parameters:
        arguments[name] = Settings() if name == "settings" else {} if name == "readiness" else None
    return api.create_app(**arguments)


def health_app() -> web.Application:
    """The health routes the worker's small server gets (roles.worker_health_app)."""
    app = web.Application()
    add_health_routes(app)
    return app


# --- settings ------------------------------------------------------------------------------


@OVERLAYS
def test_every_configmap_key_is_a_setting(overlay):
    unknown = sorted(set(configmap(overlay)) - SETTING_NAMES)
    assert not unknown, f"not PAYSYS_* settings of paysys.config.Settings: {unknown}"


def test_configmap_values_parse_and_suit_containers():
    settings = settings_from_configmap()
    assert settings.aws_endpoint_url == "http://paysys-localstack:4566"
    # Pods are reached from outside their own network namespace.
    assert settings.api_host == "0.0.0.0"  # noqa: S104 - the pod's interfaces, by design
    assert settings.worker_host == "0.0.0.0"  # noqa: S104 - the pod's interfaces, by design
    assert settings.worker_port != 0, "the worker's probes need its health port"
    assert settings.log_format == "json"
    # No secret in a ConfigMap.
    secret_names = {doc.env for doc in config_docs.describe() if doc.secret}
    assert not secret_names & set(configmap())


def test_compose_settings_are_settings():
    compose = yaml.safe_load(COMPOSE.read_text())
    for name in ("provision", "api", "worker"):
        environment = compose["services"][name]["environment"]
        assert set(environment) <= SETTING_NAMES, name
        assert (
            Settings.from_env(environment).aws_endpoint_url
            == configmap()["PAYSYS_AWS_ENDPOINT_URL"]
        )


# --- image ---------------------------------------------------------------------------------


def test_image_tag_is_the_project_version_and_explicit():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert make_variable("IMAGE_TAG") == pyproject["project"]["version"]
    assert make_variable("IMAGE_TAG") != "latest"
    assert make_variable("KIND_CLUSTER") == "payment-system"


def test_manifests_name_the_image_of_deploy_mk():
    for where, spec in pod_specs():
        for c in spec["containers"] + spec.get("initContainers", []):
            assert c["image"] == image(), where
            # `kind load` puts the image on the node; Always would try a registry.
            assert c["imagePullPolicy"] == "IfNotPresent", where
    compose = yaml.safe_load(COMPOSE.read_text())
    for name in ("provision", "api", "worker"):
        assert compose["services"][name]["image"] == image(), name
    assert f'org.opencontainers.image.version="{make_variable("IMAGE_TAG")}"' in (
        DOCKERFILE.read_text()
    )


def test_dockerfile_shape():
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I), "no BuildKit frontend line"
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert base, "ARG BASE_IMAGE with a default"
    name, _, tag = base.group(1).partition(":")
    assert name, base.group(1)
    assert tag not in {"", "latest"}, base.group(1)
    assert len(re.findall(r"^FROM \$\{BASE_IMAGE\}", text, re.M)) == 2, "builder + runtime"
    assert 'ENTRYPOINT ["paysys"]' in text
    assert 'CMD ["--role", "api"]' in text
    assert "HEALTHCHECK" in text
    assert "PYTHONUNBUFFERED=1" in text
    user = re.findall(r"^USER (\d+):(\d+)$", text, re.M)
    assert user, "USER uid:gid"
    assert int(user[-1][0]) != 0
    # The pods run as the image's user.
    for where, spec in pod_specs():
        assert spec["securityContext"]["runAsUser"] == int(user[-1][0]), where
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.+)$", text, re.M)[0].split()}
    defaults = Settings()
    assert exposed == {defaults.api_port, defaults.worker_port}


def test_dockerignore_lets_in_what_the_dockerfile_copies():
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for needed in ("pyproject.toml", "README.md", "src", "wheels"):
        assert needed in allowed
    copied = re.findall(r"^COPY (?!--from)(\S+) ", DOCKERFILE.read_text(), re.M)
    for source in copied:
        if source != ".":
            assert source in allowed, source
            assert (ROOT / source).exists(), source


# --- ports and probes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deployment", "setting"), [("paysys-api", "api_port"), ("paysys-worker", "worker_port")]
)
def test_probes_hit_the_apps_health_routes_on_the_configured_port(deployment, setting):
    spec = container(deployment)
    port = getattr(settings_from_configmap(), setting)
    routes = app_routes(api_app() if deployment == "paysys-api" else health_app())
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = spec[probe]["httpGet"]
        assert http["path"] == path, f"{deployment} {probe}"
        assert http["path"] in routes, f"{deployment} {probe}: no such route"
        assert port_number(spec, http["port"]) == port, f"{deployment} {probe}"
    assert [p["containerPort"] for p in spec["ports"]] == [port]
    scrape = one("Deployment", deployment)["spec"]["template"]["metadata"]["annotations"]
    assert scrape["prometheus.io/path"] in routes, f"{deployment}: no metrics route"
    assert int(scrape["prometheus.io/port"]) == port, deployment


def test_api_routes_exist():
    assert {"/payments", "/payments/{payment_id}", "/healthz", "/readyz"} <= app_routes(api_app())


def test_service_and_kind_port_mapping_reach_the_api():
    service = one("Service", "paysys-api")
    api_spec = container("paysys-api")
    (port,) = service["spec"]["ports"]
    assert port_number(api_spec, port["targetPort"]) == settings_from_configmap().api_port
    assert service["spec"]["selector"].items() <= (
        one("Deployment", "paysys-api")["spec"]["template"]["metadata"]["labels"].items()
    )
    cluster = yaml.safe_load((KIND / "cluster.yaml").read_text())
    assert cluster["name"] == make_variable("KIND_CLUSTER")
    mappings = [m for node in cluster["nodes"] for m in node.get("extraPortMappings", [])]
    assert any(
        m["containerPort"] == port["nodePort"]
        and m["hostPort"] == 8080
        and m.get("listenAddress") == "127.0.0.1"
        for m in mappings
    ), "the API NodePort is published on 127.0.0.1:8080"
    assert "API_URL=http://127.0.0.1:8080" in (DEPLOY / "scripts" / "kind-up.sh").read_text()


def test_network_policies_admit_the_serving_ports():
    admitted = {
        policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component"): {
            p["port"] for rule in policy["spec"].get("ingress", []) for p in rule["ports"]
        }
        for policy in objects("NetworkPolicy")
    }
    settings = settings_from_configmap()
    assert admitted == {None: set(), "api": {settings.api_port}, "worker": {settings.worker_port}}


# --- shutdown ------------------------------------------------------------------------------


def prestop_seconds(spec: dict[str, Any]) -> int:
    command = spec.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    return int(command[1]) if command[:1] == ["sleep"] else 0


@pytest.mark.parametrize("deployment", ["paysys-api", "paysys-worker"])
def test_grace_period_exceeds_long_poll_and_drain(deployment):
    settings = settings_from_configmap()
    pod = one("Deployment", deployment)["spec"]["template"]["spec"]
    needed = (
        settings.worker_wait_seconds
        + settings.shutdown_timeout_seconds
        + prestop_seconds(container(deployment))
    )
    assert pod["terminationGracePeriodSeconds"] > needed + 5, (
        f"{deployment}: grace {pod['terminationGracePeriodSeconds']}s vs {needed}s needed"
    )


# --- hardening -----------------------------------------------------------------------------


@OVERLAYS
def test_pods_are_hardened(overlay):
    for where, spec in pod_specs(overlay):
        assert spec["automountServiceAccountToken"] is False, where
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        for c in spec["containers"]:
            security = c["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][bound]), f"{where} {bound}"
            envs = c.get("envFrom", [])
            assert {"configMapRef": {"name": "paysys-config"}} in envs, where
    for name in ("paysys-api", "paysys-worker"):
        assert {"readinessProbe", "livenessProbe"} <= set(container(name, overlay)), name


@OVERLAYS
def test_no_service_links_in_any_pod(overlay):
    # The Service paysys-api would inject PAYSYS_API_PORT=tcp://...:8080 into every pod of the
    # namespace, which is no valid setting where the ConfigMap does not set the key.
    for where, spec in pod_specs(overlay):
        assert spec.get("enableServiceLinks") is False, where


@OVERLAYS
def test_worker_replicas_are_left_to_keda(overlay):
    # A replica count in the manifest would reset what KEDA scaled to on every `kubectl apply`.
    assert "replicas" not in one("Deployment", "paysys-worker", overlay)["spec"]


def test_kustomizations_list_every_manifest():
    for kustomization in DEPLOY.glob("**/kustomization.yaml"):
        if ".tools" in kustomization.parts:
            continue
        directory = kustomization.parent
        spec = yaml.safe_load(kustomization.read_text())
        listed = set(spec.get("resources", [])) | {
            patch["path"] for patch in spec.get("patches", []) if "path" in patch
        }
        present = {p.name for p in directory.glob("*.yaml")}
        # Not Kubernetes objects: kind's cluster config, the CloudFormation template (deploy/aws).
        present -= {"kustomization.yaml", "cluster.yaml", "paysys.yaml"}
        assert present <= listed, directory
        for name in listed:
            assert (directory / name).exists(), f"{directory}: {name}"


def test_kind_provisions_the_grafana_dashboard_for_the_sidecar():
    # Grafana's dashboard sidecar loads every ConfigMap labelled grafana_dashboard: "1".
    dashboard = one("ConfigMap", "paysys-grafana-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["data"] == {"paysys.json": (DEPLOY / "grafana" / "paysys.json").read_text()}


# --- KEDA and LocalStack -------------------------------------------------------------------


def test_keda_scales_the_worker_on_the_configured_queue():
    (scaled,) = objects("ScaledObject", KEDA)
    assert scaled["spec"]["scaleTargetRef"]["name"] == "paysys-worker"
    one("Deployment", "paysys-worker")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    metadata = trigger["metadata"]
    settings = settings_from_configmap()
    assert metadata["queueURL"].startswith(f"{settings.aws_endpoint_url}/")
    assert metadata["queueURL"].rsplit("/", 1)[1] == settings.queue_name
    assert metadata["awsEndpoint"] == settings.aws_endpoint_url
    assert metadata["awsRegion"] == settings.aws_region
    auth = one("TriggerAuthentication", trigger["authenticationRef"]["name"], KEDA)
    secret = one("Secret", auth["spec"]["secretTargetRef"][0]["name"], KEDA)
    assert {ref["key"] for ref in auth["spec"]["secretTargetRef"]} <= set(secret["stringData"])
    # A scale-down must not cut a worker's drain short.
    grace = one("Deployment", "paysys-worker")["spec"]["template"]["spec"]
    assert scaled["spec"]["cooldownPeriod"] > grace["terminationGracePeriodSeconds"]


def test_localstack_is_pinned_and_matches_the_endpoint():
    compose = yaml.safe_load(COMPOSE.read_text())
    localstack = compose["services"]["localstack"]
    name, _, tag = localstack["image"].partition(":")
    assert name == "localstack/localstack"
    # Releases after 4.14 (and `latest`) refuse to start without an auth token.
    version = tuple(int(part) for part in tag.split("."))
    assert (4, 0) <= version[:2] <= (4, 14), tag
    assert set(localstack["environment"]["SERVICES"].split(",")) == {"dynamodb", "sns", "sqs"}
    endpoint = configmap()["PAYSYS_AWS_ENDPOINT_URL"]
    assert endpoint == f"http://{localstack['container_name']}:4566"
    # compose's one-shot provisioning runs our own `paysys provision`, nothing hand-written.
    assert compose["services"]["provision"]["command"] == ["provision"]
    assert not (DEPLOY / "localstack" / "init").exists()


# --- scripts -------------------------------------------------------------------------------


def test_scripts_are_executable_and_strict():
    scripts = sorted((DEPLOY / "scripts").glob("*.sh"))
    assert {p.name for p in scripts} >= {
        "image.sh",
        "kind-up.sh",
        "kind-down.sh",
        "smoke.sh",
        "check-deploy.sh",
    }
    for script in scripts:
        text = script.read_text()
        if script.name == "lib.sh":  # sourced, not run
            continue
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
        assert text.startswith("#!/usr/bin/env bash\n"), script.name
        assert "set -euo pipefail" in text, script.name
    targets = re.findall(r"^([a-z-]+):", (DEPLOY / "deploy.mk").read_text(), re.M)
    assert {"image", "kind-up", "kind-down", "smoke", "check-deploy"} <= set(targets)


# --- identities, egress and API keys -------------------------------------------------------

METADATA_ADDRESSES = (
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
)


@OVERLAYS
def test_every_role_runs_as_its_own_service_account(overlay):
    accounts = {sa["metadata"]["name"]: sa for sa in objects("ServiceAccount", overlay)}
    assert set(accounts) == {f"paysys-{role}" for role in iam.ROLES}  # one IAM role each
    for component, template in workloads(overlay):
        name = template["spec"]["serviceAccountName"]
        assert name == f"paysys-{component}", component
        assert accounts[name]["automountServiceAccountToken"] is False, name
        assert accounts[name]["metadata"]["labels"]["app.kubernetes.io/component"] == component


@OVERLAYS
def test_egress_is_dns_and_the_aws_endpoint_never_the_metadata_address(overlay):
    policies = objects("NetworkPolicy", overlay)
    assert any(
        p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
        for p in policies
    ), "a default deny of ingress and egress for every pod"
    allowed: set[tuple[int, str]] = set()
    for policy in (p for p in policies if p["spec"].get("egress")):
        selector = policy["spec"]["podSelector"]["matchLabels"]
        for _, template in workloads(overlay):
            assert selector.items() <= template["metadata"]["labels"].items()
        for rule in policy["spec"]["egress"]:
            ports = {(p["port"], p["protocol"]) for p in rule["ports"]}  # never "any port"
            for peer in rule["to"]:  # never "anywhere"
                if "ipBlock" not in peer:  # DNS, the cluster's resolver only
                    assert peer["namespaceSelector"]["matchLabels"] == {
                        "kubernetes.io/metadata.name": "kube-system"
                    }
                    assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
                    assert ports == {(53, "UDP"), (53, "TCP")}
                    continue
                block = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                excepted = [ipaddress.ip_network(n) for n in peer["ipBlock"].get("except", [])]
                for address in METADATA_ADDRESSES:
                    if address.version == block.version and address in block:
                        assert any(address in n for n in excepted), (policy["metadata"], block)
            allowed |= ports
    # HTTPS for AWS, and the port of the endpoint override where there is one (LocalStack).
    endpoint = settings_from_configmap(overlay).aws_endpoint_url
    expected = {(53, "UDP"), (53, "TCP"), (443, "TCP")}
    assert allowed == expected | ({(urlsplit(endpoint).port, "TCP")} if endpoint else set())


@OVERLAYS
def test_auth_is_required_and_the_key_hashes_come_from_a_secret(overlay):
    assert settings_from_configmap(overlay).auth == "required"
    env = container("paysys-api", overlay).get("env", [])
    [keys] = [e for e in env if e["name"] == "PAYSYS_API_KEYS"]
    assert keys["valueFrom"]["secretKeyRef"] == {
        "name": "paysys-api-keys",
        "key": "PAYSYS_API_KEYS",
    }
    for component, template in workloads(overlay):  # only the API sees the hashes
        if component != "api":
            assert "env" not in template["spec"]["containers"][0], component


def test_auth_is_required_by_kind_up_compose_and_smoke():
    kind_up = (DEPLOY / "scripts" / "kind-up.sh").read_text()
    assert "create secret generic paysys-api-keys" in kind_up
    assert '--from-literal=PAYSYS_API_KEYS="$api_hash"' in kind_up
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("provision", "api", "worker"):
        assert services[name]["environment"]["PAYSYS_AUTH"] == "required", name
    assert services["api"]["environment"]["PAYSYS_API_KEYS"] == "${PAYSYS_API_KEYS:-}"
    smoke = (DEPLOY / "scripts" / "smoke.sh").read_text()
    for needed in ("PAYSYS_AUTH=required", '"PAYSYS_API_KEYS=$api_hash"', "SMOKE_API_KEY=$api_key"):
        assert needed in smoke


# --- EKS: deploy/aws ------------------------------------------------------------------------

ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")


def stack_outputs() -> dict[str, str]:
    """deploy/aws/stack-outputs.env: the placeholders an operator replaces by the stack's."""
    lines = (AWS / "stack-outputs.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_base_and_aws_have_no_endpoint_override_anywhere():
    assert not {"PAYSYS_AWS_ENDPOINT_URL", "PAYSYS_DYNAMODB_ENDPOINT_URL"} & set(configmap(BASE))
    text = yaml.safe_dump_all(rendered(AWS))
    for local in ("ENDPOINT_URL", "awsEndpoint", "localstack", "4566", "000000000000"):
        assert local not in text, local
    assert settings_from_configmap(AWS).aws_endpoint_url is None
    assert not objects("Secret", AWS), "no static keys: KEDA and the pods use IRSA"


def test_aws_service_accounts_carry_the_stack_role_arns():
    outputs = stack_outputs()
    # One output per role, named as the stack's outputs (ApiRoleArn, ...), and the queue.
    assert set(outputs) == {f"{role.capitalize()}RoleArn" for role in iam.ROLES} | {"QueueUrl"}
    for role in iam.ROLES:
        account = one("ServiceAccount", f"paysys-{role}", AWS)
        arn = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert arn == outputs[f"{role.capitalize()}RoleArn"], role
        assert ROLE_ARN.fullmatch(arn), arn
    # The stack outputs stay local to kustomize: the only ConfigMap applied is the settings.
    assert [c["metadata"]["name"] for c in objects("ConfigMap", AWS)] == ["paysys-config"]


def test_aws_image_comes_from_a_registry():
    for where, spec in pod_specs(AWS):
        for c in spec["containers"]:
            repository, _, tag = c["image"].rpartition(":")
            assert "/" in repository, f"{where}: {c['image']} names no registry"
            assert c["image"] != image(), where
            assert tag == make_variable("IMAGE_TAG") or "@sha256:" in c["image"], where
            assert c["imagePullPolicy"] == "Always", where
    assert one("Service", "paysys-api", AWS)["spec"]["type"] == "ClusterIP"


def test_aws_keda_authenticates_by_pod_identity_on_the_configured_queue():
    (scaled,) = objects("ScaledObject", AWS)
    assert scaled["spec"]["scaleTargetRef"]["name"] == "paysys-worker"
    (trigger,) = scaled["spec"]["triggers"]
    auth = one("TriggerAuthentication", trigger["authenticationRef"]["name"], AWS)
    # KEDA takes the role of the worker's ServiceAccount (IRSA): no keys, no Secret.
    assert auth["spec"] == {"podIdentity": {"provider": "aws", "identityOwner": "workload"}}
    settings = settings_from_configmap(AWS)
    queue = urlsplit(trigger["metadata"]["queueURL"])
    assert queue.scheme == "https"
    assert queue.hostname == f"sqs.{settings.aws_region}.amazonaws.com"
    assert queue.path.rsplit("/", 1)[1] == settings.queue_name
    assert trigger["metadata"]["awsRegion"] == settings.aws_region
    assert "awsEndpoint" not in trigger["metadata"]
