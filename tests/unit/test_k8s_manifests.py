"""The Kubernetes deployment (k8s/) and the container image (Dockerfile), checked offline.

Every overlay is rendered with kustomize and the rendered objects are checked: strict schemas of
the Kubernetes API (kubernetes-validate ships them, nothing is downloaded), and the invariants an
operator relies on: native gRPC probes on each service's health, requests and limits, a locked-down
security context, a PodDisruptionBudget and a HorizontalPodAutoscaler per Deployment, Services that
select pods, NetworkPolicies whose ports exist, every configuration key the code reads present
(introspected from the pydantic settings classes, so the check grows with the code), and
termination, drain and probe timings that agree. `bash scripts/k8s-validate.sh` runs this module
after installing what it needs.
"""

from __future__ import annotations

import functools
import importlib
import ipaddress
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML comes with the dev extra: pip install -e '.[dev]'")

from mesh.commands.migrate import SERVICE_SCHEMAS, MigrateSettings  # noqa: E402
from mesh.commands.topics import TopicSettings, topic_specs  # noqa: E402
from mesh.config import ConfigError, MeshSettings, load  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
SERVICES = sorted(SERVICE_SCHEMAS)  # the service packages: pur_svc, routing_svc, ...
KUBE_VERSIONS = os.environ.get("KUBE_VERSIONS", "1.30 1.37").split()

NAMESPACE = "firstmile"
PART_OF = ("app.kubernetes.io/part-of", "firstmile-mesh")
IMAGE = "firstmile-mesh"
SECRET = "firstmile-secrets"

# The public contract (DESIGN.md): the gRPC service each package serves.
GRPC_SERVICES = {
    "pur_svc": "firstmile.pur.v1.PickupService",
    "routing_svc": "firstmile.routing.v1.RoutingService",
    "dispatch_svc": "firstmile.dispatch.v1.DispatchService",
    "attendance_adapter": "firstmile.attendance.v1.AttendanceService",
}
# Settings whose values are credentials (or embed them) come only from the Secret.
SECRET_FIELD = re.compile(r"(DATABASE_URL|REDIS_URL|PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIALS)$")
# Stand-ins for the Secret's values when a container's configuration is loaded by the code.
SECRET_SAMPLES = {
    "FIRSTMILE_DATABASE_URL": "postgresql+psycopg2://firstmile:secret@postgres:5432/firstmile",
    "FIRSTMILE_REDIS_URL": "redis://redis:6379/0",
}
# (overlay, workload, container) allowed a writable root file system, with the reason.
WRITABLE_ROOT = {
    ("dev", "kafka", "kafka"): "the apache/kafka image renders its configuration into /opt/kafka/config",
}
DEV_STORE_IMAGES = {"postgres": "postgres:16", "redis": "redis:7", "kafka": "apache/kafka:4.1.0"}
STORE_PORTS = {"postgres": 5432, "redis": 6379, "kafka": 9092}
# Pod shutdown after SIGTERM (mesh/runtime.py): drain, then the gRPC grace period, then each
# worker gets up to the grace period to stop, then connections close (producer.close(timeout=5)).
CLOSE_MARGIN_SECONDS = 10


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _kustomize_command() -> list[str] | None:
    """kustomize as scripts/k8s-validate.sh installs it, else `kubectl kustomize`; on a machine with
    neither but with Go, the script installs kustomize into .cache/bin first."""
    if os.environ.get("KUSTOMIZE"):
        return shlex.split(os.environ["KUSTOMIZE"])
    local = ROOT / ".cache" / "bin" / "kustomize"
    if local.is_file():
        return [str(local), "build"]
    kubectl = shutil.which("kubectl")
    if kubectl and subprocess.run([kubectl, "kustomize", "--help"], capture_output=True).returncode == 0:
        return [kubectl, "kustomize"]
    if shutil.which("go"):
        subprocess.run(["bash", str(ROOT / "scripts" / "k8s-validate.sh"), "--tools-only"], check=True)
        if local.is_file():
            return [str(local), "build"]
    return None


@functools.cache
def render(overlay: str) -> list[dict[str, Any]]:
    command = _kustomize_command()
    if command is None:
        pytest.skip("neither kustomize nor kubectl nor Go here: run `bash scripts/k8s-validate.sh`")
    result = subprocess.run([*command, str(K8S / "overlays" / overlay)], capture_output=True, text=True)
    assert result.returncode == 0, f"kustomize build k8s/overlays/{overlay} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@dataclass(frozen=True)
class Workload:
    """A Deployment, StatefulSet or Job with its pod template."""

    kind: str
    name: str
    obj: dict[str, Any]

    @property
    def pod(self) -> dict[str, Any]:
        return self.obj["spec"]["template"]["spec"]

    @property
    def pod_labels(self) -> dict[str, str]:
        return self.obj["spec"]["template"]["metadata"].get("labels", {})

    @property
    def annotations(self) -> dict[str, str]:
        return self.obj["spec"]["template"]["metadata"].get("annotations", {})

    def containers(self, init: bool = True) -> list[dict[str, Any]]:
        return (self.pod.get("initContainers", []) if init else []) + self.pod["containers"]

    def ports(self) -> list[dict[str, Any]]:
        return [port for c in self.pod["containers"] for port in c.get("ports", [])]

    def has_port(self, port: int | str, protocol: str = "TCP") -> bool:
        key = "name" if isinstance(port, str) else "containerPort"
        return any(p.get(key) == port and p.get("protocol", "TCP") == protocol for p in self.ports())

    def port_number(self, name: str) -> int:
        (number,) = [p["containerPort"] for p in self.ports() if p.get("name") == name]
        return number


class Rendered:
    def __init__(self, overlay: str) -> None:
        self.overlay = overlay
        self.docs = render(overlay)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind}/{name}, found {len(found)}"
        return found[0]

    @functools.cached_property
    def workloads(self) -> list[Workload]:
        return [
            Workload(d["kind"], d["metadata"]["name"], d)
            for d in self.docs
            if d["kind"] in ("Deployment", "StatefulSet", "Job")
        ]

    @functools.cached_property
    def deployments(self) -> dict[str, Workload]:
        """Service package (from `python -m <package> api`) -> the Deployment serving its gRPC API."""
        return self._deployments_of_role("api")

    @functools.cached_property
    def workers(self) -> dict[str, Workload]:
        """Service package -> the Deployment of its relay and consumers (`python -m <package> workers`)."""
        return self._deployments_of_role("workers")

    @property
    def all_deployments(self) -> list[Workload]:
        return [*self.deployments.values(), *self.workers.values()]

    def _deployments_of_role(self, role: str) -> dict[str, Workload]:
        found: dict[str, Workload] = {}
        for w in self.workloads:
            if w.kind == "Deployment" and role_of(server(w)) == role:
                module = module_of(server(w))
                assert module not in found, f"{self.overlay}: two Deployments run {module} {role}"
                found[module] = w
        return found

    def configmap(self, name: str) -> dict[str, str]:
        return self.one("ConfigMap", name).get("data", {})

    def env(self, container: dict[str, Any]) -> dict[str, tuple[str, Any]]:
        """Variable -> (source, value): ("configmap", value), ("secret", (name, key)), ("value", v)."""
        env: dict[str, tuple[str, Any]] = {}
        for source in container.get("envFrom", []):
            assert "configMapRef" in source, (
                f"{container['name']}: envFrom only from ConfigMaps, secrets key by key (secretKeyRef)"
            )
            for key, value in self.configmap(source["configMapRef"]["name"]).items():
                env[source.get("prefix", "") + key] = ("configmap", value)
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = ("value", var["value"])
            elif "secretKeyRef" in var.get("valueFrom", {}):
                ref = var["valueFrom"]["secretKeyRef"]
                env[var["name"]] = ("secret", (ref["name"], ref["key"]))
            elif "configMapKeyRef" in var.get("valueFrom", {}):
                ref = var["valueFrom"]["configMapKeyRef"]
                env[var["name"]] = ("configmap", self.configmap(ref["name"])[ref["key"]])
            else:
                env[var["name"]] = ("other", var["valueFrom"])
        return env

    def pods_selected(self, selector: dict[str, Any]) -> list[Workload]:
        return [w for w in self.workloads if selector_matches(selector, w.pod_labels)]


@pytest.fixture(params=OVERLAYS)
def k8s(request: pytest.FixtureRequest) -> Rendered:
    return Rendered(request.param)


def is_ours(container: dict[str, Any]) -> bool:
    return image_name(container["image"]) == IMAGE


def image_name(image: str) -> str:
    return image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]


def module_of(container: dict[str, Any]) -> str:
    command = container.get("command", []) + container.get("args", [])
    assert command[:2] == ["python", "-m"], f"{container['name']}: expected `python -m <module>`, got {command}"
    return command[2]


def role_of(container: dict[str, Any]) -> str:
    """The role a service container runs (mesh/roles.py): its one argument after the module."""
    command = container.get("command", []) + container.get("args", [])
    return command[3] if len(command) > 3 else ""


def server(workload: Workload) -> dict[str, Any]:
    (container,) = [c for c in workload.pod["containers"] if c["name"] == "server"]
    return container


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (an empty selector selects everything)."""
    selector = selector or {}
    if "matchLabels" not in selector and "matchExpressions" not in selector and selector:
        selector = {"matchLabels": selector}  # a Service's plain selector map
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def settings_keys(cls: type) -> dict[str, Any]:
    """Environment variable -> pydantic field of a pydantic-settings class."""
    prefix = cls.model_config.get("env_prefix", "")
    keys = {}
    for name, field in cls.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        keys[(alias or prefix + name).upper()] = field
    return keys


def service_settings(package: str) -> type:
    module = pytest.importorskip(f"{package}.config", reason=f"{package}/config.py does not exist yet")
    return module.Settings


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity as a number (cores or bytes)."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def all_probes(container: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind in container:
            yield kind, container[kind]


def probe_window(probe: dict[str, Any]) -> int:
    """Seconds of consecutive failures before the probe's verdict."""
    return probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)


# ---------------------------------------------------------------------------------------------
# Rendering and schemas
# ---------------------------------------------------------------------------------------------


def test_overlays_exist() -> None:
    assert {"dev", "prod"} <= set(OVERLAYS)


def test_every_object_is_namespaced_and_labelled(k8s: Rendered) -> None:
    for doc in k8s.docs:
        where = f"{k8s.overlay}: {doc['kind']}/{doc['metadata']['name']}"
        assert doc["metadata"].get("labels", {}).get(PART_OF[0]) == PART_OF[1], where
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
            assert doc["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted", where
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, where
    for w in k8s.workloads:
        assert w.pod_labels.get(PART_OF[0]) == PART_OF[1], f"{k8s.overlay}: pods of {w.kind}/{w.name}"


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_strict_schema_validation_offline(k8s: Rendered, kube_version: str) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate comes with the dev extra")
    errors = []
    for doc in k8s.docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kv.validate(doc, kube_version, strict=True)
        except kv.ValidationError as exc:
            errors.append(f"{where}: {'.'.join(str(p) for p in exc.path)}: {exc.message}")
        except kv.SchemaNotFoundError as exc:  # no CRDs are used: every kind must be known
            errors.append(f"{where}: {exc.message}")
    assert not errors, f"{k8s.overlay} against Kubernetes {kube_version}:\n" + "\n".join(errors)


# ---------------------------------------------------------------------------------------------
# Services, probes, resources, security
# ---------------------------------------------------------------------------------------------


def test_every_service_has_deployment_service_and_account(k8s: Rendered) -> None:
    assert set(k8s.deployments) == set(SERVICES), f"{k8s.overlay}: Deployments run {sorted(k8s.deployments)}"
    assert set(k8s.workers) == set(SERVICES), f"{k8s.overlay}: workers Deployments run {sorted(k8s.workers)}"
    named = {module_of(server(w)) + " " + role_of(server(w)) for w in k8s.workloads if w.kind == "Deployment"}
    assert len(named) == 2 * len(SERVICES), f"{k8s.overlay}: a Deployment per service and role, got {sorted(named)}"
    for package, w in k8s.workers.items():
        name = package.replace("_", "-")
        assert w.name == f"{name}-workers" and w.pod.get("serviceAccountName") == name, w.name
        assert not [s for s in k8s.of("Service") if selector_matches(s["spec"]["selector"], w.pod_labels)], (
            f"{k8s.overlay}: {w.name} serves health checks only; no Service may send it calls"
        )
    for package, w in k8s.deployments.items():
        name = package.replace("_", "-")
        assert w.name == name
        account = w.pod.get("serviceAccountName")
        assert account == name and k8s.one("ServiceAccount", account)
        service = k8s.one("Service", name)
        (grpc_port,) = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
        assert grpc_port["targetPort"] in ("grpc", w.port_number("grpc"))
        assert grpc_port["port"] == w.port_number("grpc"), "Service port = the contract's default port"


def test_contract_services_exist_in_generated_code() -> None:
    from google.protobuf import descriptor_pool

    for path in sorted((ROOT / "gen").rglob("*_pb2.py")):
        importlib.import_module(".".join(path.relative_to(ROOT / "gen").with_suffix("").parts))
    for name in GRPC_SERVICES.values():
        assert descriptor_pool.Default().FindServiceByName(name).full_name == name


def test_native_grpc_probes_on_the_service_health(k8s: Rendered) -> None:
    for package, w in k8s.deployments.items():
        container = server(w)
        kinds = dict(all_probes(container))
        assert set(kinds) == {"startupProbe", "readinessProbe", "livenessProbe"}, f"{w.name}: {sorted(kinds)}"
        for kind, probe in kinds.items():
            assert "grpc" in probe, f"{k8s.overlay}: {w.name} {kind} must be a native gRPC probe"
            # Kubelet probes cannot do TLS: they use the plaintext, health-only port.
            assert probe["grpc"]["port"] == w.port_number("health"), f"{w.name} {kind} port"
            assert probe["grpc"].get("service") == GRPC_SERVICES[package], (
                f"{w.name} {kind}: service must be the full gRPC service name (its own health status)"
            )
    for w in k8s.workers.values():
        kinds = dict(all_probes(server(w)))
        assert set(kinds) == {"startupProbe", "readinessProbe", "livenessProbe"}, f"{w.name}: {sorted(kinds)}"
        for kind, probe in kinds.items():
            assert probe["grpc"]["port"] == w.port_number("health"), f"{w.name} {kind} port"
            assert not probe["grpc"].get("service"), f"{w.name} {kind}: workers serve no API, only overall health"


def test_every_container_has_requests_and_limits(k8s: Rendered) -> None:
    for w in k8s.workloads:
        for c in w.containers():
            resources = c.get("resources", {})
            for resource in ("cpu", "memory"):
                where = f"{k8s.overlay}: {w.kind}/{w.name} container {c['name']} {resource}"
                request = resources.get("requests", {}).get(resource)
                limit = resources.get("limits", {}).get(resource)
                assert request is not None and limit is not None, f"{where}: needs a request and a limit"
                assert quantity(request) <= quantity(limit), f"{where}: request above limit"


def dockerfile_user() -> tuple[int, int]:
    user = [i.args for i in final_stage(dockerfile_stages()) if i.op == "USER"][-1]
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


def test_security_context(k8s: Rendered) -> None:
    uid, gid = dockerfile_user()
    for w in k8s.workloads:
        pod = w.pod
        where = f"{k8s.overlay}: {w.kind}/{w.name}"
        pod_security = pod.get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, f"{where}: runAsNonRoot"
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccomp"
        assert pod.get("automountServiceAccountToken") is False, f"{where}: no API token is needed"
        assert pod.get("enableServiceLinks") is False, f"{where}: service links clash with settings"
        for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(forbidden), f"{where}: {forbidden}"
        assert not [v for v in pod.get("volumes", []) if "hostPath" in v], f"{where}: hostPath"
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in w.containers():
            here = f"{where} container {c['name']}"
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, f"{here}: allowPrivilegeEscalation"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{here}: drop ALL"
            assert not sc.get("capabilities", {}).get("add"), f"{here}: no added capability"
            assert not sc.get("privileged"), f"{here}: privileged"
            assert sc.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True, f"{here}: runAsNonRoot"
            run_as = sc.get("runAsUser", pod_security.get("runAsUser"))
            assert isinstance(run_as, int) and run_as > 0, f"{here}: a numeric non-root runAsUser"
            if (k8s.overlay, w.name, c["name"]) in WRITABLE_ROOT:
                assert sc.get("readOnlyRootFilesystem") is False
            else:
                assert sc.get("readOnlyRootFilesystem") is True, f"{here}: readOnlyRootFilesystem"
            if is_ours(c):
                assert (run_as, sc.get("runAsGroup", pod_security.get("runAsGroup"))) == (uid, gid), (
                    f"{here}: run as the Dockerfile's USER {uid}:{gid}"
                )
                mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
                assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]], f"{here}: /tmp emptyDir"


def test_topology_spread(k8s: Rendered) -> None:
    for w in k8s.all_deployments:
        constraints = w.pod.get("topologySpreadConstraints", [])
        keys = {c["topologyKey"] for c in constraints}
        assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys, f"{w.name}: {keys}"
        assert len(constraints) == len(keys), f"{w.name}: one constraint per topology key (a half-merged patch?)"
        for c in constraints:
            # The selector comes from the service file, maxSkew from k8s/components/service-defaults.
            assert "labelSelector" in c and selector_matches(c["labelSelector"], w.pod_labels), (
                f"{w.name}: spread selector"
            )
            assert c.get("maxSkew", 0) >= 1, f"{w.name}: {c['topologyKey']} maxSkew"


def test_one_pdb_and_one_hpa_per_deployment(k8s: Rendered) -> None:
    pdbs, hpas = k8s.of("PodDisruptionBudget"), k8s.of("HorizontalPodAutoscaler")
    for w in k8s.all_deployments:
        where = f"{k8s.overlay}: Deployment/{w.name}"
        assert "replicas" not in w.obj["spec"], f"{where}: the HPA owns the replica count"
        mine = [
            h
            for h in hpas
            if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name}
        ]
        assert len(mine) == 1 and mine[0]["apiVersion"] == "autoscaling/v2", f"{where}: one autoscaling/v2 HPA"
        hpa = mine[0]["spec"]
        assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"], where
        assert any(
            m["type"] == "Resource"
            and m["resource"]["name"] == "cpu"
            and m["resource"]["target"]["type"] == "Utilization"
            for m in hpa["metrics"]
        ), f"{where}: scales on CPU utilisation"
        covering = [p for p in pdbs if selector_matches(p["spec"]["selector"], w.pod_labels)]
        assert len(covering) == 1 and covering[0]["apiVersion"] == "policy/v1", f"{where}: one policy/v1 PDB"
        pdb = covering[0]["spec"]
        assert [x.name for x in k8s.pods_selected(pdb["selector"])] == [w.name], f"{where}: PDB selects only it"
        if "minAvailable" in pdb:
            assert int(pdb["minAvailable"]) < hpa["minReplicas"], f"{where}: the PDB would block every drain"
        else:
            assert int(pdb["maxUnavailable"]) >= 1, where


def test_services_select_pods_and_ports_exist(k8s: Rendered) -> None:
    for svc in k8s.of("Service"):
        where = f"{k8s.overlay}: Service/{svc['metadata']['name']}"
        selector = svc["spec"].get("selector")
        assert selector, f"{where}: needs a selector"
        selected = k8s.pods_selected(selector)
        assert selected, f"{where}: selects no pods of any workload"
        assert len({w.name for w in selected}) == 1, f"{where}: selects pods of {[w.name for w in selected]}"
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert all(w.has_port(target, port.get("protocol", "TCP")) for w in selected), f"{where}: {target}"
        if any(w.kind == "Deployment" for w in selected):
            assert "grpc" in [p["name"] for p in svc["spec"]["ports"]], f"{where}: a port named grpc"
    for w in k8s.deployments.values():
        assert any(selector_matches(s["spec"]["selector"], w.pod_labels) for s in k8s.of("Service")), w.name


# ---------------------------------------------------------------------------------------------
# NetworkPolicies
# ---------------------------------------------------------------------------------------------


def _policies(k8s: Rendered) -> list[dict[str, Any]]:
    return k8s.of("NetworkPolicy")


def _same_namespace_pod_peers(rule_peers: list[dict[str, Any]]) -> bool:
    return bool(rule_peers) and all(set(peer) == {"podSelector"} for peer in rule_peers)


def test_network_policies_default_deny_and_dns(k8s: Rendered) -> None:
    policies = _policies(k8s)
    assert any(
        p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
        for p in policies
    ), f"{k8s.overlay}: a default deny-all policy"
    dns = [p for p in policies if p["spec"]["podSelector"] == {} and p["spec"].get("egress")]
    dns_ports = {(port["protocol"], port["port"]) for p in dns for r in p["spec"]["egress"] for port in r["ports"]}
    assert {("UDP", 53), ("TCP", 53)} <= dns_ports, f"{k8s.overlay}: DNS egress for every pod"


def test_network_policy_rules_are_narrow_and_ports_exist(k8s: Rendered) -> None:
    for policy in _policies(k8s):
        spec = policy["spec"]
        where = f"{k8s.overlay}: NetworkPolicy/{policy['metadata']['name']}"
        targets = k8s.pods_selected(spec["podSelector"])
        assert targets, f"{where}: selects no pods"
        for rule in spec.get("ingress", []):
            assert rule.get("from") and rule.get("ports"), f"{where}: an ingress rule open to all"
            for port in rule["ports"]:
                for w in targets:
                    assert w.has_port(port["port"], port.get("protocol", "TCP")), (
                        f"{where}: ingress port {port['port']} does not exist on {w.kind}/{w.name}"
                    )
        for rule in spec.get("egress", []):
            assert rule.get("to") and rule.get("ports"), f"{where}: an egress rule open to all"
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    ipaddress.ip_network(peer["ipBlock"]["cidr"])
            if _same_namespace_pod_peers(rule["to"]):
                for peer in rule["to"]:
                    destinations = k8s.pods_selected(peer["podSelector"])
                    assert destinations, f"{where}: egress to {peer} selects no pods"
                    for port in rule["ports"]:
                        for w in destinations:
                            assert w.has_port(port["port"], port.get("protocol", "TCP")), (
                                f"{where}: egress port {port['port']} does not exist on {w.kind}/{w.name}"
                            )


def _allowed(k8s: Rendered, w: Workload, direction: str, port: int, peer_kind: str | None = None) -> bool:
    """Whether some policy lets `w`'s pods send (Egress) or accept (Ingress) TCP on `port`."""
    key = "egress" if direction == "Egress" else "ingress"
    peers_key = "to" if direction == "Egress" else "from"
    for policy in _policies(k8s):
        spec = policy["spec"]
        if direction not in spec["policyTypes"] or not selector_matches(spec["podSelector"], w.pod_labels):
            continue
        for rule in spec.get(key, []):
            ports = {p["port"] for p in rule["ports"]}
            named = (
                {p.get("name") for p in w.ports() if p["containerPort"] == port} if direction == "Ingress" else set()
            )
            if (port in ports or named & ports) and (
                peer_kind is None or any(peer_kind in peer for peer in rule[peers_key])
            ):
                return True
    return False


def test_network_policies_allow_the_flows_the_mesh_needs(k8s: Rendered) -> None:
    stores = {w.name: w for w in k8s.workloads if w.name in STORE_PORTS}
    for package, w in [*k8s.deployments.items(), *k8s.workers.items()]:
        where = f"{k8s.overlay}: {w.name}"
        assert _allowed(k8s, w, "Ingress", w.port_number("grpc")), f"{where}: clients to gRPC"
        assert _allowed(k8s, w, "Ingress", w.port_number("metrics"), "namespaceSelector"), f"{where}: Prometheus"
        for store, port in STORE_PORTS.items():
            assert _allowed(k8s, w, "Egress", port), f"{where}: to {store}:{port}"
            if store in stores:
                assert _allowed(k8s, stores[store], "Ingress", port), f"{k8s.overlay}: {store} accepts the mesh"
        upstream = _allowed(k8s, w, "Egress", 443, "ipBlock")
        serves_api = w is k8s.deployments[package]
        assert upstream == (package == "attendance_adapter" and serves_api), (
            f"{where}: HTTPS egress only for the adapter"
        )
    for job in (w for w in k8s.workloads if w.kind == "Job"):
        for port in (STORE_PORTS["postgres"], STORE_PORTS["kafka"]):
            assert _allowed(k8s, job, "Egress", port), f"{k8s.overlay}: Job/{job.name} to port {port}"


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


def _load_with(env: dict[str, str], cls: type, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        for name in list(os.environ):
            if name.startswith(("FIRSTMILE_", *(s.upper() + "_" for s in SERVICES))):
                m.delenv(name)
        for name, value in env.items():
            m.setenv(name, value)
        return load(cls)


# Stands in for every mounted file (certificates, keys, tokens) when the code loads a container's
# configuration here; test_every_configured_file_is_mounted_from_a_secret checks the real paths.
STAND_IN_FILE = Path(__file__)


def _values(k8s: Rendered, container: dict[str, Any], where: str) -> dict[str, str]:
    values = {}
    for name, (source, value) in k8s.env(container).items():
        if source == "secret":
            secret_name, _key = value
            assert secret_name == SECRET, f"{where}: {name} from Secret {secret_name}, expected {SECRET}"
            values[name] = SECRET_SAMPLES.get(name, "secret")
        elif source in ("configmap", "value"):
            values[name] = str(STAND_IN_FILE) if name.endswith("_FILE") and value else str(value)
    return values


@pytest.mark.parametrize("package", SERVICES)
def test_every_config_key_the_code_reads_is_set(k8s: Rendered, package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_cls = service_settings(package)
    w = k8s.deployments[package]
    for c in w.containers():
        if not is_ours(c):
            continue
        where = f"{k8s.overlay}: {w.name} container {c['name']}"
        env = k8s.env(c)
        reads = {"mesh.commands.migrate": MigrateSettings, "mesh.commands.topics": TopicSettings}.get(
            module_of(c), MeshSettings
        )
        needed = dict(settings_keys(reads))
        if c["name"] == "server":
            needed |= settings_keys(settings_cls)
        missing = sorted(set(needed) - set(env))
        assert not missing, (
            f"{where}: the code reads {missing} but the manifests do not set them: add them to "
            f"k8s/base/config.env (or k8s/overlays/*/config.env), or key by key from the Secret {SECRET}"
        )
        for name in needed:
            if SECRET_FIELD.search(name):
                assert env[name][0] == "secret", f"{where}: {name} holds credentials: secretKeyRef only"
        values = _values(k8s, c, where)
        try:
            _load_with(values, reads, monkeypatch)
            loaded = _load_with(values, settings_cls, monkeypatch) if c["name"] == "server" else None
        except ConfigError as exc:
            pytest.fail(f"{where}: the code rejects the configuration: {exc}")
        if loaded is not None:
            assert loaded.grpc_port == w.port_number("grpc"), f"{where}: gRPC port in config vs containerPort"
            assert loaded.metrics_port == w.port_number("metrics"), f"{where}: metrics port vs containerPort"
            assert loaded.health_port == w.port_number("health"), f"{where}: health port vs containerPort"
            assert w.annotations.get("prometheus.io/scrape") == "true", f"{where}: scrape annotation"
            assert w.annotations.get("prometheus.io/port") == str(loaded.metrics_port), f"{where}: scrape port"
            assert w.annotations.get("prometheus.io/path") == "/metrics"


def test_every_configured_file_is_mounted_from_a_secret(k8s: Rendered) -> None:
    for w in k8s.all_deployments:
        c = server(w)
        volumes = {v["name"]: v for v in w.pod.get("volumes", [])}
        mounts = {m["mountPath"].rstrip("/"): m for m in c.get("volumeMounts", [])}
        for name, (source, value) in k8s.env(c).items():
            if not name.endswith("_FILE") or not value or source == "secret":
                continue
            where = f"{k8s.overlay}: {w.name} {name}={value}"
            folder, _, filename = str(value).rpartition("/")
            assert folder in mounts, f"{where}: no volume mounted at {folder}"
            mount = mounts[folder]
            assert mount.get("readOnly") is True, f"{where}: mount read-only"
            volume = volumes[mount["name"]]
            assert "secret" in volume, f"{where}: keys, certificates and tokens come from Secrets"
            items = volume["secret"].get("items")
            if items is not None:
                assert filename in {i["path"] for i in items}, f"{where}: the Secret volume does not project {filename}"
            assert volume["secret"].get("defaultMode", 0o644) & 0o007 == 0, f"{where}: not world-readable"


def test_grpc_is_mutual_tls_in_every_overlay(k8s: Rendered, monkeypatch: pytest.MonkeyPatch) -> None:
    for w in k8s.all_deployments:
        settings = _load_with(_values(k8s, server(w), w.name), MeshSettings, monkeypatch)
        assert settings.grpc_transport == "mtls", f"{k8s.overlay}: {w.name} must not serve plaintext gRPC"


def test_configmaps_hold_only_keys_the_code_reads_and_no_secrets(k8s: Rendered) -> None:
    known = set(settings_keys(MeshSettings)) | set(settings_keys(MigrateSettings)) | set(settings_keys(TopicSettings))
    pending = []  # prefixes of services whose config module does not exist yet
    for package in SERVICES:
        try:
            known |= set(settings_keys(importlib.import_module(f"{package}.config").Settings))
        except ModuleNotFoundError:
            pending.append(package.upper() + "_")
    for cm in k8s.of("ConfigMap"):
        keys = set(cm.get("data", {}))
        stale = sorted(k for k in keys - known if not k.startswith(tuple(pending)))
        assert not stale, f"{k8s.overlay}: ConfigMap {cm['metadata']['name']} sets keys nothing reads: {stale}"
        leaked = sorted(k for k in keys if SECRET_FIELD.search(k))
        assert not leaked, f"{k8s.overlay}: credentials in a ConfigMap: {leaked}"


def test_secrets_are_referenced_never_committed(k8s: Rendered) -> None:
    assert not k8s.of("Secret"), f"{k8s.overlay}: a Secret is rendered from the repository"
    docs = (ROOT / "docs" / "kubernetes.md").read_text()
    keys = {
        var["valueFrom"]["secretKeyRef"]["key"]
        for w in k8s.workloads
        for c in w.containers()
        for var in c.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }
    for key in keys:
        assert f"{key}=" in docs, f"docs/kubernetes.md must show how to create the Secret's key {key}"
    assert f"secret generic {SECRET}" in docs
    for w in k8s.deployments.values():
        for volume in w.pod.get("volumes", []):
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                assert f"`{name}`" in docs, f"docs/kubernetes.md must say what the Secret {name} holds"
                for item in volume["secret"].get("items", []):
                    assert f"{item['key']}=" in docs, (
                        f"docs/kubernetes.md must show how to create {name}'s {item['key']}"
                    )


# ---------------------------------------------------------------------------------------------
# Timings, Jobs, Kafka, images
# ---------------------------------------------------------------------------------------------


def test_termination_drain_and_probe_timings_agree(k8s: Rendered, monkeypatch: pytest.MonkeyPatch) -> None:
    for w in k8s.all_deployments:
        c = server(w)
        where = f"{k8s.overlay}: {w.name}"
        settings = _load_with(_values(k8s, c, where), MeshSettings, monkeypatch)
        drain, grace = settings.drain_seconds, settings.grace_seconds
        needed = drain + grace + grace + CLOSE_MARGIN_SECONDS
        period = w.pod.get("terminationGracePeriodSeconds", 30)
        assert period >= needed, (
            f"{where}: terminationGracePeriodSeconds {period} < drain {drain} + gRPC grace {grace} "
            f"+ worker stop {grace} + closing {CLOSE_MARGIN_SECONDS}: the kubelet would SIGKILL mid-drain"
        )
        liveness = c["livenessProbe"]
        assert probe_window(liveness) > drain + grace, (
            f"{where}: liveness fails within {probe_window(liveness)} s, but a draining pod reports "
            f"NOT_SERVING for up to {drain + grace} s and must not be restarted for it"
        )
        assert probe_window(c["startupProbe"]) >= 30, f"{where}: start-up budget"
        assert probe_window(c["readinessProbe"]) <= probe_window(liveness), f"{where}: readiness reacts first"
    for w in k8s.workloads:
        for c in w.containers():
            for kind, probe in all_probes(c):
                assert probe.get("timeoutSeconds", 1) < probe.get("periodSeconds", 10), f"{w.name} {kind}"


def test_migrations_and_topics_run_before_services_need_them(k8s: Rendered) -> None:
    jobs = {module_of(w.pod["containers"][0]): w for w in k8s.workloads if w.kind == "Job"}
    assert set(jobs) == {"mesh.commands.migrate", "mesh.commands.topics"}, f"{k8s.overlay}: Jobs run {sorted(jobs)}"
    migrate = jobs["mesh.commands.migrate"].pod["containers"][0]
    assert migrate["command"][3:] == [], "the migrate Job migrates every service"
    for w in jobs.values():
        spec = w.obj["spec"]
        assert w.pod["restartPolicy"] in ("Never", "OnFailure")
        assert spec.get("backoffLimit", 6) >= 1 and spec.get("activeDeadlineSeconds")
        assert spec.get("ttlSecondsAfterFinished") is not None, f"{w.name}: finished Jobs are cleaned up"
    for package, w in [*k8s.deployments.items(), *k8s.workers.items()]:
        init = [module_of(c) for c in w.pod.get("initContainers", [])]
        commands = [c["command"] for c in w.pod.get("initContainers", [])]
        assert ["python", "-m", "mesh.commands.migrate", package] in commands, f"{w.name}: migrates its schema first"
        assert "mesh.commands.topics" in init, f"{w.name}: ensures the topics exist first"


def test_kafka_topics_replication(k8s: Rendered, monkeypatch: pytest.MonkeyPatch) -> None:
    w = k8s.deployments[SERVICES[0]]
    settings = _load_with(_values(k8s, server(w), w.name), TopicSettings, monkeypatch)
    specs = topic_specs(settings.kafka_topic_partitions, settings.kafka_topic_replication)
    brokers = [s for s in k8s.of("StatefulSet") if s["metadata"]["name"] == "kafka"]
    if brokers:  # in-cluster Kafka: replicas cannot exceed the brokers
        assert settings.kafka_topic_replication <= brokers[0]["spec"]["replicas"], k8s.overlay
    else:  # managed Kafka
        assert settings.kafka_topic_replication == 3, f"{k8s.overlay}: topics replicated three times"
        assert {s.configs["min.insync.replicas"] for s in specs} == {"2"}, k8s.overlay
    max_replicas = max(h["spec"]["maxReplicas"] for h in k8s.of("HorizontalPodAutoscaler"))
    assert settings.kafka_topic_partitions >= max_replicas, (
        f"{k8s.overlay}: fewer partitions than consumers: replicas beyond {settings.kafka_topic_partitions} idle"
    )


def test_images_are_pinned(k8s: Rendered) -> None:
    ours = set()
    for w in k8s.workloads:
        for c in w.containers():
            image = c["image"]
            tagged = "@sha256:" in image or (":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"))
            assert tagged, f"{k8s.overlay}: {w.name}/{c['name']} image {image} has no pinned tag"
            if is_ours(c):
                ours.add(image)
            elif k8s.overlay == "dev":
                assert image == DEV_STORE_IMAGES[w.name], f"dev: {w.name} image {image}"
            else:
                pytest.fail(f"{k8s.overlay}: unexpected third-party image {image} in {w.name}")
    assert len(ours) == 1, f"{k8s.overlay}: one image for the whole mesh, got {sorted(ours)}"


def test_dev_runs_stores_in_cluster_and_prod_does_not() -> None:
    dev, prod = Rendered("dev"), Rendered("prod")
    for store in STORE_PORTS:
        sts = dev.one("StatefulSet", store)
        assert sts["spec"]["replicas"] == 1 and sts["spec"]["volumeClaimTemplates"], f"dev {store}"
    kafka_env = {
        e["name"]: e.get("value")
        for e in dev.one("StatefulSet", "kafka")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller", "single-node KRaft"
    assert not prod.of("StatefulSet"), "prod uses managed stores"
    for hpa in dev.of("HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] == 1, "dev: single replicas"
    for hpa in prod.of("HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 3, "prod: a replica per zone at least"


# ---------------------------------------------------------------------------------------------
# Layout: what every service shares is written once (k8s/components/service-defaults)
# ---------------------------------------------------------------------------------------------
# These read the sources, not the rendering: the checks above prove the rendered result, these
# that k8s/base/<service>.yaml keeps only what is the service's own.


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kustomization(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "kustomization.yaml").read_text())


def _label_selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """The equality form of a label selector ("a=b,c=d"), the only one the patches use."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, _, value = term.partition("=")
        assert key and value and not key.endswith("!"), f"unsupported label selector term {term!r}"
        if labels.get(key) != value:
            return False
    return True


def _targets(target: dict[str, Any], doc: dict[str, Any]) -> bool:
    group, _, version = doc["apiVersion"].rpartition("/")
    return (
        target.get("kind", doc["kind"]) == doc["kind"]
        and target.get("group", group) == group
        and target.get("version", version) == version
        and re.fullmatch(target.get("name", ".*"), doc["metadata"]["name"]) is not None
        and _label_selector_matches(target.get("labelSelector", ""), doc["metadata"].get("labels", {}))
    )


@dataclass(frozen=True)
class SharedPatch:
    path: Path
    target: dict[str, Any]
    body: dict[str, Any]


def _shared_patches() -> list[SharedPatch]:
    """The strategic merge patches of the components the base applies."""
    base = K8S / "base"
    patches = []
    for component in _kustomization(base).get("components", []):
        folder = (base / component).resolve()
        for patch in _kustomization(folder).get("patches", []):
            assert "path" in patch and "target" in patch, f"{folder}: patches from files, with a target"
            (body,) = _yaml_docs(folder / patch["path"])
            patches.append(SharedPatch(folder / patch["path"], patch["target"], body))
    return patches


def _service_files() -> dict[Path, list[dict[str, Any]]]:
    """k8s/base files that define a service Deployment (app.kubernetes.io/component: server)."""
    base = K8S / "base"
    found = {}
    for resource in _kustomization(base)["resources"]:
        docs = _yaml_docs(base / resource)
        if any(
            d["kind"] == "Deployment" and d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "server"
            for d in docs
        ):
            found[base / resource] = docs
    return found


def _merge_key(items: list[Any]) -> tuple[str, ...] | None:
    """The key strategic merge uses for a list of objects (None: the list is replaced whole)."""
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in (("mountPath",), ("containerPort", "protocol"), ("topologyKey", "whenUnsatisfiable"), ("name",)):
        if all(all(k in item for k in key) for item in items):
            return key
    return None


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every field a strategic merge patch would set; list elements are
    addressed by their merge key, whose fields are identity rather than settings."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and (key := _merge_key(node)):
        for item in node:
            ident = tuple(item[k] for k in key)
            for field, value in item.items():
                if field not in key:
                    yield from _leaves(value, (*path, ident, field))
    else:
        yield path, node


# What names an object rather than configures it (a patch's own metadata.name is a placeholder).
IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name")}


def _where(path: tuple[Any, ...]) -> str:
    return ".".join(str(p[0] if isinstance(p, tuple) and len(p) == 1 else p) for p in path)


def test_every_service_gets_the_shared_settings() -> None:
    patches = _shared_patches()
    assert patches, "k8s/base applies the service-defaults component"
    files = _service_files()
    assert len(files) == len(SERVICES), f"one file per service in k8s/base: {sorted(p.name for p in files)}"
    for path, docs in files.items():
        for doc in docs:
            if doc["kind"] in ("Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceAccount"):
                assert any(_targets(p.target, doc) for p in patches), (
                    f"{path.name}: {doc['kind']}/{doc['metadata']['name']} is not selected by the shared patches "
                    "(label it app.kubernetes.io/component: server)"
                )


def test_service_files_do_not_repeat_or_override_shared_settings() -> None:
    """A field set both in a service file and in the component is set twice, and the component's
    value silently wins (a patch overrides the resource): set it in one place only."""
    problems = []
    for patch in _shared_patches():
        shared = {path for path, _ in _leaves(patch.body) if path not in IDENTITY}
        for path, docs in _service_files().items():
            for doc in docs:
                if _targets(patch.target, doc):
                    for leaf, _ in _leaves(doc):
                        if leaf in shared:
                            problems.append(f"{path.name} {doc['kind']}: {_where(leaf)} (also in {patch.path.name})")
    assert not problems, "set in a service file and in k8s/components/service-defaults:\n" + "\n".join(problems)


def test_what_every_service_deployment_shares_is_in_the_component() -> None:
    """A setting with the same value in every service's Deployment belongs in the component."""
    deployments = {
        doc["metadata"]["name"]: dict(_leaves(doc))
        for path, docs in _service_files().items()
        for doc in docs
        if doc["kind"] == "Deployment"
    }
    assert len(deployments) == 2 * len(SERVICES), "a Deployment per service and role"
    # The label the shared patches select by is necessarily in every file.
    selected_by = {
        ("metadata", "labels", "app.kubernetes.io/component"),
        ("spec", "template", "metadata", "labels", "app.kubernetes.io/component"),
    }
    first, *others = deployments.values()
    same = sorted(
        _where(leaf)
        for leaf, value in first.items()
        if leaf not in IDENTITY | selected_by and all(leaf in other and other[leaf] == value for other in others)
    )
    assert not same, f"the same in every service Deployment, move to k8s/components/service-defaults: {same}"


# ---------------------------------------------------------------------------------------------
# The container image (there is no Docker engine in CI: check the Dockerfile's invariants)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    op: str
    args: str


def dockerfile_stages() -> list[list[Instruction]]:
    text = (ROOT / "Dockerfile").read_text()
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped.rstrip("\\").strip() if current else stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            logical.append(current)
            current = ""
    stages: list[list[Instruction]] = []
    preamble: list[Instruction] = []
    for line in logical:
        op, _, args = line.partition(" ")
        instruction = Instruction(op.upper(), args.strip())
        if instruction.op == "FROM":
            stages.append([instruction])
        elif stages:
            stages[-1].append(instruction)
        else:
            preamble.append(instruction)
    return [preamble, *stages]


def final_stage(stages: list[list[Instruction]]) -> list[Instruction]:
    return stages[-1]


BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|cargo|rustc|[\w.+-]+-dev)\b")


def test_dockerfile_is_multi_stage_with_a_clean_final_stage() -> None:
    preamble, *stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: build, then runtime"
    names = []
    for stage in stages[:-1]:
        _image, _, name = stage[0].args.partition(" AS ")
        names.append(name.strip().lower())
    final = final_stage(stages)
    base = final[0].args.split(" AS ")[0].split()[-1]
    assert base.lower() not in names, "the final stage must start from a clean base, not the build stage"
    args = {i.args.split("=")[0]: i.args.split("=", 1)[1] for i in preamble if i.op == "ARG" and "=" in i.args}
    resolved = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base)
    assert "slim" in resolved or "distroless" in resolved, f"final base {resolved}: a minimal image"
    for instruction in final:
        if instruction.op == "RUN":
            assert not re.search(r"apt-get install|apk add|pip install|yum install|dnf install", instruction.args), (
                f"final stage installs packages: {instruction.args}"
            )
            assert not BUILD_TOOLS.search(instruction.args), f"build tools in the final stage: {instruction.args}"
        if instruction.op == "COPY":
            sources = instruction.args.split()
            assert any(s.startswith("--from=") for s in sources), (
                f"final stage copies from the context: {instruction.args}"
            )
    build_stage_text = " ".join(i.args for stage in stages[:-1] for i in stage)
    assert "build-essential" in build_stage_text or "pip install" in build_stage_text


def test_dockerfile_runs_as_numeric_non_root_with_gen_on_the_path() -> None:
    final = final_stage(dockerfile_stages())
    users = [i.args for i in final if i.op == "USER"]
    assert users, "USER in the final stage"
    assert re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), f"USER {users[-1]}: numeric, non-root"
    env = " ".join(i.args for i in final if i.op == "ENV")
    path = re.search(r"PYTHONPATH=(\S+)", env)
    assert path and "/app/gen" in path.group(1).split(":"), "gen/ on PYTHONPATH"
    copies = [i.args.split() for stage in dockerfile_stages()[1:] for i in stage if i.op == "COPY"]
    assert ["gen", "/app/gen"] in copies, "gen/ is copied to /app/gen"
    assert any(c[-1].rstrip("/") in ("/app", "/app/gen") and c[0].startswith("--from=") for c in copies), (
        "the final stage takes /app/gen from the build stage"
    )
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "the root file system is read-only in Kubernetes"


def dockerignore_excludes(path: str) -> bool:
    """Whether Docker leaves `path` out of the build context (moby patternmatcher semantics: the
    last matching pattern wins; a pattern matching a parent directory matches the path)."""
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = _docker_pattern(pattern)
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def test_dockerignore_keeps_the_context_to_what_the_image_needs() -> None:
    left_out = (
        ".cache/venv/bin/python",
        ".git/HEAD",
        "tests/unit/test_config.py",
        "mesh/__pycache__/config.cpython-311.pyc",
        "k8s/base/kustomization.yaml",
        "infra/infra.sh",
    )
    for path in left_out:
        assert dockerignore_excludes(path), f".dockerignore must exclude {path}"
    sources = [
        i.args.split()[0]
        for stage in dockerfile_stages()[1:]
        for i in stage
        if i.op == "COPY" and not i.args.startswith("--from")
    ]
    assert sources, "the Dockerfile copies from the context"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        files = (
            [source]
            if (ROOT / source).is_file()
            else [str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*.py") if "__pycache__" not in p.parts]
        )
        assert files, source
        for path in files:
            assert not dockerignore_excludes(path), f".dockerignore excludes {path}, which the Dockerfile copies"
    for package in SERVICES + ["mesh"]:
        assert package in sources, f"the image must contain {package}"


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _runtime_distributions() -> set[str]:
    """The project's runtime dependencies and theirs (what `pip install -r` puts in the image)."""
    import tomllib
    from importlib import metadata

    pending = [
        _requirement_name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        pending += [_requirement_name(r) for r in requires if "extra ==" not in r.replace('"', "").replace("'", "")]
    return seen


def test_image_dependencies_cover_every_import() -> None:
    """The image installs only pyproject.toml's dependencies: a module the code imports that comes
    from anything else (a dev tool, a package installed by hand) would crash the pod at start-up."""
    import ast
    import sys
    from importlib import metadata

    first_party = set(SERVICES) | {"mesh", "firstmile"}
    providers = metadata.packages_distributions()
    installed = _runtime_distributions()
    missing = {}
    for package in sorted(first_party - {"firstmile"}):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in first_party or top in sys.stdlib_module_names or top == "__future__":
                        continue
                    dists = {d.lower().replace("_", "-") for d in providers.get(top, [])}
                    if not dists & installed:
                        missing.setdefault(top, str(path.relative_to(ROOT)))
    assert not missing, (
        "imported by the code but not installed from pyproject.toml's dependencies (add a pinned "
        f"dependency): {missing}"
    )
