"""The Helm chart, rendered by the real Helm v4 engine and checked against the
Kubernetes schemas, the operator's RBAC needs and the CRDs in crds/."""

from __future__ import annotations

import copy
import json
from collections import defaultdict

import pytest
import yaml

from chartlib import (
    CHART_DIR,
    RELEASE,
    RELEASE_NS,
    REPO,
    by_kind,
    chart,
    controller_calls,
    helm,
    one,
    render,
    render_raw,
)

import kubernetes_validate

FULLNAME = f"{RELEASE}-siptrunk-operator"
LEASE = f"{FULLNAME}-leader"

# ---------------------------------------------------------------- value sets

SCENARIOS = {
    "default": {},
    "namespaced": {"watchNamespace": "voice", "labelSelector": "siptrunk.dev/shard in (a,b)"},
    "ha-extras": {
        "replicas": 2,
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "networkPolicy": {
            "enabled": True,
            "apiServer": {"cidrs": ["10.0.0.1/32"]},
            "metrics": {"from": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]},
            "dns": {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]},
            "extraEgress": [{"to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}], "ports": [{"port": 3128}]}],
        },
        "podDisruptionBudget": {"enabled": True},
    },
    "no-crds": {"crds": {"install": False}},
    "no-leader-election": {"leaderElection": {"enabled": False}},
    "everything-else": {
        "image": {"repository": "registry.example/sip/op", "tag": "1.2.3", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "regcred"}],
        "fullnameOverride": "sipop",
        "logLevel": "debug,kube=info",
        "logFormat": "text",
        "leaderElection": {"enabled": True, "leaseName": "my-lease"},
        "crds": {"install": True, "keep": False},
        "serviceAccount": {"create": True, "name": "sip-sa", "annotations": {"a": "b"}},
        "podAnnotations": {"prometheus.io/scrape": "true"},
        "podLabels": {"team": "voice"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "siptrunk-operator"}},
                        },
                    }
                ]
            }
        },
        "priorityClassName": "system-cluster-critical",
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        "service": {"type": "ClusterIP", "port": 9090, "annotations": {"x": "y"}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
    },
    # What users of cert-manager / external-secrets / Crossplane charts set.
    "knobs": {
        "global": {"imageRegistry": "mirror.example", "imagePullSecrets": [{"name": "global-cred"}], "parentThing": 1},
        "image": {"repository": "sip/op", "digest": "sha256:" + "ab" * 32},
        "imagePullSecrets": [{"name": "regcred"}],
        "commonLabels": {"team": "voice", "cost-center": "42"},
        "deploymentAnnotations": {"reloader.stakater.com/auto": "true"},
        "extraArgs": ["--concurrency", "32"],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE}},
            }
        ],
        "livenessProbe": {"initialDelaySeconds": 15, "periodSeconds": 20, "timeoutSeconds": 3, "failureThreshold": 6},
        "readinessProbe": {"initialDelaySeconds": 1, "periodSeconds": 7, "timeoutSeconds": 4, "failureThreshold": 2},
        "extraVolumes": [{"name": "ca", "configMap": {"name": "corp-ca"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/corp", "readOnly": True}],
        "extraEnv": [{"name": "SSL_CERT_DIR", "value": "/etc/ssl/corp"}],
        "serviceMonitor": {
            "enabled": True,
            "namespace": "monitoring",
            "labels": {"release": "kube-prometheus-stack"},
            "interval": "15s",
            "relabelings": [{"targetLabel": "cluster", "replacement": "eu1"}],
            "metricRelabelings": [{"sourceLabels": ["__name__"], "regex": "process_.*", "action": "drop"}],
        },
        "crds": {"annotations": {"argocd.argoproj.io/sync-options": "Prune=false,ServerSideApply=true"}},
        "prometheusRule": {"enabled": True, "namespace": "monitoring", "labels": {"release": "kube-prometheus-stack"}},
        "grafanaDashboard": {"enabled": True, "namespace": "monitoring", "annotations": {"grafana_folder": "Telephony"}},
    },
    # OpenShift assigns the UID and GID per namespace: the fixed ids must go.
    "openshift": {
        "podSecurityContext": {"runAsUser": None, "runAsGroup": None},
        "containerSecurityContext": {"runAsUser": None, "runAsGroup": None},
    },
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request):
    return request.param, render(SCENARIOS[request.param])


def deployment(objects):
    return one(objects, "Deployment")


def container(objects):
    containers = deployment(objects)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# -------------------------------------------------------- Kubernetes schemas

K8S_VERSION = "1.33.0"
# Kinds kubernetes-validate has no schema for (not built into Kubernetes).
# Anything else without a schema fails the test.
NOT_BUILT_IN = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}


def test_every_rendered_object_matches_the_kubernetes_schemas(scenario):
    name, objects = scenario
    assert objects, f"{name}: nothing rendered"
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        label = f"{name}: {obj['kind']}/{obj['metadata']['name']}"
        if key in NOT_BUILT_IN:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{label}: {err.message} at {list(err.path)}")


def test_service_monitor_shape():
    sm = one(render(SCENARIOS["ha-extras"]), "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
    service = one(render(SCENARIOS["ha-extras"]), "Service")
    for k, v in sm["spec"]["selector"]["matchLabels"].items():
        assert service["metadata"]["labels"][k] == v, "ServiceMonitor does not select the metrics Service"


# --------------------------------------------------------------- the engine


def test_helm_lint_is_clean():
    for name, values in SCENARIOS.items():
        report = helm.lint(str(CHART_DIR), values, strict=True, namespace=RELEASE_NS, kube_version="v1.33.0")
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not problems and not report["errors"], f"{name}: {problems or report['errors']}"


def test_install_dry_run_client(tmp_path):
    """The whole install pipeline (schema, kubeVersion, ordering, NOTES) as
    `helm install --dry-run=client`: nothing is contacted."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:1"}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
                "users": [{"name": "none", "user": {"token": "unused"}}],
            }
        )
    )
    with helm.Config(kubeconfig_path=str(kubeconfig), storage_driver="memory", namespace=RELEASE_NS) as cfg:
        release = cfg.install(str(CHART_DIR), RELEASE, {}, dry_run="client", namespace=RELEASE_NS)
    assert "rollout status deployment/" + FULLNAME in release["notes"]
    kinds = [d["kind"] for d in yaml.safe_load_all(release["manifest"]) if d]
    assert kinds.count("CustomResourceDefinition") == 4
    assert kinds.index("CustomResourceDefinition") < kinds.index("Deployment"), "CRDs must be applied first"


def test_chart_metadata():
    meta = chart().metadata
    assert meta["apiVersion"] == "v2"
    # isIP/isCIDR compile for new CRD rules from 1.31 on (see the chart README).
    assert meta["kubeVersion"] == ">=1.31.0-0"
    assert meta["appVersion"] == "0.1.0"


# CEL functions of the libraries Kubernetes adds per release, with the first release whose API
# server compiles them in NEW CRD rules: staging/src/k8s.io/apiserver/pkg/cel/environment/base.go
# gives each library an IntroducedVersion, and new expressions are compiled for the
# compatibility version n-1, so a library introduced in 1.X is usable in new rules from 1.X+1.
CEL_FUNCTIONS = {
    r"\b(isIP|ip|isCIDR|cidr)\(": (1, 31),  # library.IP, library.CIDR: IntroducedVersion 1.30
    r"\bformat\.[a-zA-Z0-9]+\(": (1, 32),  # library.Format: 1.31
    r"\.(transformList|transformMap|transformMapEntry)\(": (1, 33),  # ext.TwoVarComprehensions: 1.32
    r"\b(isSemver|semver)\(": (1, 34),  # library.SemverLib: 1.33
}


def test_kube_version_floor_matches_the_cel_functions_the_crds_use():
    import re

    text = CRD_SOURCE.read_text()
    needed = max((v for pattern, v in CEL_FUNCTIONS.items() if re.search(pattern, text)), default=(1, 25))
    floor = tuple(int(x) for x in re.match(r">=(\d+)\.(\d+)", chart().metadata["kubeVersion"]).groups())
    assert floor == needed, f"the CRDs need Kubernetes {needed}, Chart.yaml says {floor}"


# ------------------------------------------------------------ values schema

BAD_VALUES = {
    "typo in a new knob": ({"prometheusRule": {"enable": True}}, "additional properties 'enable' not allowed"),
    "probe typo": ({"livenessProbe": {"periodSecond": 3}}, "additional properties 'periodSecond' not allowed"),
    "extra args not strings": ({"extraArgs": [32]}, "/extraArgs/0"),
    "bad digest": ({"image": {"digest": "latest"}}, "/image/digest"),
    "error ratio above 1": ({"prometheusRule": {"errorRatio": 2}}, "/prometheusRule/errorRatio"),
    "mount without a path": ({"extraVolumeMounts": [{"name": "ca"}]}, "/extraVolumeMounts/0"),
    "typo at the top": ({"replica": 2}, "additional properties 'replica' not allowed"),
    "typo nested": ({"image": {"tga": "1"}}, "additional properties 'tga' not allowed"),
    "wrong type": ({"replicas": "two"}, "/replicas"),
    "wrong type bool": ({"crds": {"install": "yes"}}, "/crds/install"),
    "bad enum logFormat": ({"logFormat": "xml"}, "/logFormat"),
    "bad namespace name": ({"watchNamespace": "Voice_NS"}, "/watchNamespace"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_schema_refuses_bad_values(case):
    values, needle = BAD_VALUES[case]
    with pytest.raises(helm.HelmValuesError) as refused:
        render_raw(values)
    assert needle in str(refused.value)
    with pytest.raises(helm.HelmValuesError):
        chart().validate_schema(values)


def test_schema_accepts_every_scenario():
    for values in SCENARIOS.values():
        chart().validate_schema(values)


def test_schema_is_draft_07_and_closed():
    schema = chart().schema
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    defaults = chart().values
    assert set(defaults) <= set(schema["properties"]), "a default value is missing from the schema"


# ------------------------------------------------------------ the Deployment


def test_pod_security_is_restricted(scenario):
    name, objects = scenario
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    psc = pod["securityContext"]
    sc = container(objects)["securityContext"]
    if name == "openshift":
        # The platform picks the ids; everything else stays restricted.
        assert "runAsUser" not in psc and "runAsGroup" not in psc
        assert "runAsUser" not in sc and "runAsGroup" not in sc
    else:
        assert psc["runAsUser"] == 65532 and sc["runAsUser"] == 65532
    assert psc["runAsNonRoot"] is True
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    for vol in pod.get("volumes", []):
        assert "hostPath" not in vol


def test_default_deployment():
    objects = render()
    dep = deployment(objects)
    assert dep["spec"]["replicas"] == 1
    assert dep["metadata"]["namespace"] == RELEASE_NS
    c = container(objects)
    assert c["image"] == "ghcr.io/siptrunk/siptrunk-operator:0.1.0"
    assert c["command"] == ["/siptrunk-operator"]
    assert c["args"] == [
        "run",
        "--http-addr", "0.0.0.0:8080",
        "--leader-elect",
        "--lease-name", LEASE,
        "--lease-namespace", "$(POD_NAMESPACE)",
        "--log-format", "json",
    ]
    env = {e["name"]: e for e in c["env"]}
    assert env["RUST_LOG"]["value"] == "info"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        ["ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "CustomResourceDefinition",
         "CustomResourceDefinition", "CustomResourceDefinition", "Deployment", "Role", "Role", "RoleBinding", "RoleBinding", "Service",
         "ServiceAccount"]
    )
    svc = one(objects, "Service")
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def test_namespaced_deployment_args():
    c = container(render(SCENARIOS["namespaced"]))
    args = c["args"]
    assert args[args.index("--watch-namespace") + 1] == "voice"
    assert args[args.index("--label-selector") + 1] == "siptrunk.dev/shard in (a,b)"


def test_leader_election_off():
    objects = render(SCENARIOS["no-leader-election"])
    args = container(objects)["args"]
    assert "--leader-elect" not in args and "--lease-name" not in args
    with pytest.raises(helm.HelmRenderError, match="leaderElection"):
        render_raw({"replicas": 2, "leaderElection": {"enabled": False}})


def test_everything_else_is_passed_through():
    objects = render(SCENARIOS["everything-else"])
    dep = deployment(objects)
    pod = dep["spec"]["template"]["spec"]
    c = container(objects)
    assert dep["metadata"]["name"] == "sipop"
    assert c["image"] == "registry.example/sip/op:1.2.3" and c["imagePullPolicy"] == "Always"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["serviceAccountName"] == "sip-sa"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert "podAntiAffinity" in pod["affinity"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert dep["spec"]["template"]["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}
    assert dep["spec"]["template"]["metadata"]["labels"]["team"] == "voice"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HTTPS_PROXY"] == "http://proxy:3128" and env["RUST_LOG"] == "debug,kube=info"
    assert c["args"][c["args"].index("--log-format") + 1] == "text"
    assert c["args"][c["args"].index("--lease-name") + 1] == "my-lease"
    assert c["resources"]["limits"]["memory"] == "512Mi"
    assert one(objects, "Service")["spec"]["ports"][0]["port"] == 9090


def test_knobs_are_passed_through():
    objects = render(SCENARIOS["knobs"])
    dep = deployment(objects)
    pod = dep["spec"]["template"]["spec"]
    c = container(objects)
    assert c["image"] == "mirror.example/sip/op@sha256:" + "ab" * 32, "digest without a tag: no :tag"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "global-cred"}]
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["team"] == "voice" and labels["cost-center"] == "42", f"{obj['kind']} lacks commonLabels"
    assert dep["spec"]["template"]["metadata"]["labels"]["team"] == "voice"
    assert "team" not in dep["spec"]["selector"]["matchLabels"], "the selector is immutable: no commonLabels in it"
    assert dep["metadata"]["annotations"] == {"reloader.stakater.com/auto": "true"}
    assert c["args"][-2:] == ["--concurrency", "32"], "extra args come after the chart's own"
    assert pod["topologySpreadConstraints"] == SCENARIOS["knobs"]["topologySpreadConstraints"]
    live, ready = c["livenessProbe"], c["readinessProbe"]
    assert live["httpGet"] == {"path": "/healthz", "port": "http"} and ready["httpGet"] == {"path": "/readyz", "port": "http"}
    assert (live["initialDelaySeconds"], live["periodSeconds"], live["timeoutSeconds"], live["failureThreshold"]) == (15, 20, 3, 6)
    assert (ready["initialDelaySeconds"], ready["periodSeconds"], ready["timeoutSeconds"], ready["failureThreshold"]) == (1, 7, 4, 2)
    assert {"name": "ca", "configMap": {"name": "corp-ca"}} in pod["volumes"]
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert {"name": "ca", "mountPath": "/etc/ssl/corp", "readOnly": True} in c["volumeMounts"]
    sm = one(objects, "ServiceMonitor")
    assert sm["metadata"]["namespace"] == "monitoring"
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [RELEASE_NS]}, "it still selects the release's Service"
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["interval"] == "15s"
    assert endpoint["relabelings"] == [{"targetLabel": "cluster", "replacement": "eu1"}]
    assert endpoint["metricRelabelings"][0]["action"] == "drop"
    for crd in by_kind(objects, "CustomResourceDefinition"):
        assert crd["metadata"]["annotations"] == {
            "argocd.argoproj.io/sync-options": "Prune=false,ServerSideApply=true",
            "helm.sh/resource-policy": "keep",
        }
    rule = one(objects, "PrometheusRule")
    assert rule["metadata"]["namespace"] == "monitoring" and rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    cm = one(objects, "ConfigMap")
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Telephony"}


def test_image_reference_forms():
    def image(values):
        return container(render(values))["image"]

    assert image({"image": {"tag": "1.2.3"}}) == "ghcr.io/siptrunk/siptrunk-operator:1.2.3"
    digest = "sha256:" + "0f" * 32
    assert image({"image": {"tag": "1.2.3", "digest": digest}}) == f"ghcr.io/siptrunk/siptrunk-operator:1.2.3@{digest}"
    assert image({"global": {"imageRegistry": "mirror.example/"}}) == "mirror.example/ghcr.io/siptrunk/siptrunk-operator:0.1.0"
    assert image({"global": {}}) == "ghcr.io/siptrunk/siptrunk-operator:0.1.0"


def test_probes_and_security_defaults_are_unchanged():
    c = container(render())
    assert c["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": "http"},
        "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3,
    }
    assert c["readinessProbe"] == {
        "httpGet": {"path": "/readyz", "port": "http"},
        "initialDelaySeconds": 0, "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3,
    }
    assert c["securityContext"]["privileged"] is False


def test_helm_package_builds_a_loadable_archive(tmp_path):
    archive = helm.package(str(CHART_DIR), destination=str(tmp_path))
    assert archive.endswith("siptrunk-operator-0.1.0.tgz")
    packaged = helm.Chart.load_archive((tmp_path / "siptrunk-operator-0.1.0.tgz").read_bytes())
    assert packaged.metadata["version"] == "0.1.0" and packaged.metadata["kubeVersion"] == ">=1.31.0-0"
    files = {f["name"] for f in packaged.files}
    for needed in ("files/crds/siptrunk.dev.yaml", "files/grafana-dashboard.json", "README.md"):
        assert needed in files, f"{needed} not packaged: {sorted(files)}"
    templates = {t["name"] for t in packaged.templates}
    assert {"templates/prometheusrule.yaml", "templates/grafana-dashboard.yaml"} <= templates
    assert packaged.schema["additionalProperties"] is False, "the schema travels with the package"
    rendered = packaged.render({"grafanaDashboard": {"enabled": True}}, name=RELEASE, namespace=RELEASE_NS)
    assert any(path.endswith("grafana-dashboard.yaml") and "siptrunk_" in text for path, text in rendered.items())


def test_optional_objects():
    default = render()
    for kind in ("ServiceMonitor", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "ConfigMap"):
        assert not by_kind(default, kind), f"{kind} must be off by default"
    extras = render(SCENARIOS["ha-extras"])
    assert deployment(extras)["spec"]["replicas"] == 2
    pdb = one(extras, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= deployment(extras)["spec"]["template"]["metadata"]["labels"].items()
    # A PDB over a single replica would block node drains: not rendered.
    assert not by_kind(render({"podDisruptionBudget": {"enabled": True}}), "PodDisruptionBudget")


def test_network_policy_rules():
    np_ = one(render(SCENARIOS["ha-extras"]), "NetworkPolicy")["spec"]
    assert sorted(np_["policyTypes"]) == ["Egress", "Ingress"]
    (ingress,) = np_["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    egress_ports = [sorted((p["port"], p.get("protocol", "TCP")) for p in rule["ports"]) for rule in np_["egress"]]
    assert [(53, "TCP"), (53, "UDP")] in egress_ports
    assert [(443, "TCP"), (6443, "TCP")] in egress_ports
    assert [(443, "TCP")] in egress_ports
    api_rule = np_["egress"][1]
    assert api_rule["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]


# ------------------------------------------------------------------- CRDs

CRD_SOURCE = REPO / "crds" / "siptrunk.dev.yaml"
CRD_COPY = CHART_DIR / "files" / "crds" / "siptrunk.dev.yaml"


def test_chart_crd_copy_equals_crds_dir():
    assert CRD_COPY.read_bytes() == CRD_SOURCE.read_bytes(), (
        "charts/siptrunk-operator/files/crds/siptrunk.dev.yaml differs from crds/siptrunk.dev.yaml; "
        "run: python3 tests/chart/sync_chart_files.py"
    )


def test_rendered_crds_equal_the_source_plus_labels():
    source = {d["metadata"]["name"]: d for d in yaml.safe_load_all(CRD_SOURCE.read_text()) if d}
    assert {d["spec"]["names"]["kind"] for d in source.values()} == {"SipTrunk", "SipProvider", "ClusterSipProvider", "SipDispatchRule"}
    rendered = {d["metadata"]["name"]: d for d in by_kind(render(), "CustomResourceDefinition")}
    assert rendered.keys() == source.keys()
    for name, crd in rendered.items():
        crd = copy.deepcopy(crd)
        assert crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
        assert crd["metadata"].pop("labels")["app.kubernetes.io/managed-by"] == "Helm"
        # Type-strict: 253 must stay 253, not 253.0 or 2.53e+02.
        assert json.dumps(crd, sort_keys=True) == json.dumps(source[name], sort_keys=True), (
            f"{name}: rendered CRD differs from crds/siptrunk.dev.yaml"
        )


def test_crd_toggles():
    assert not by_kind(render(SCENARIOS["no-crds"]), "CustomResourceDefinition")
    for crd in by_kind(render({"crds": {"keep": False}}), "CustomResourceDefinition"):
        assert "helm.sh/resource-policy" not in crd["metadata"].get("annotations", {})
    # Not in the chart's crds/ directory, which Helm would never upgrade.
    assert chart().crds == []


# ------------------------------------------------------------------- RBAC

def _marker_key_call(call):
    """Reading or creating the marker-key Secret in the release namespace (its own Role)."""
    return call["resource"] == "secrets" and call["namespace"] == RELEASE_NS and call["verb"] in ("get", "create")


# What the controller needs, and nothing more: (apiGroup, resource) -> verbs,
# from the calls tests/rbac.rs observed (Leases and the marker key apart: they have their own Roles).
# A namespaced instance writes no ClusterSipProvider status (it sees only some
# of the trunks that use it), so its needs differ.
def _needed(mode="cluster"):
    out = defaultdict(set)
    for call in controller_calls()["modes"][mode]["calls"]:
        if call["resource"] != "leases" and not _marker_key_call(call):
            out[(call["apiGroup"], call["resource"])].add(call["verb"])
    return dict(out)


NEEDED = _needed()
NEEDED_NAMESPACED = _needed("namespaced")
LEASES = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}
MARKER_KEY = {("", "secrets"): {"get", "create"}}
MARKER_KEY_SECRET = f"{RELEASE}-siptrunk-operator-marker-key"
CLUSTER_SCOPED = {"clustersipproviders"}


def grants(role):
    """(apiGroup, resource) -> verbs, from a Role or ClusterRole's rules."""
    out = defaultdict(set)
    for rule in role.get("rules", []):
        assert "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert "*" not in (group, resource) and "*" not in rule["verbs"], f"wildcard in {role['metadata']['name']}"
                out[(group, resource)] |= set(rule["verbs"])
    return dict(out)


def merged(roles):
    out = defaultdict(set)
    for role in roles:
        for key, verbs in grants(role).items():
            out[key] |= verbs
    return dict(out)


def bound_roles(objects, kind):
    """Roles of `kind` that a binding gives to the operator's service account."""
    sa = one(objects, "ServiceAccount")["metadata"]["name"]
    binding_kind = kind + "Binding"
    names = set()
    for binding in by_kind(objects, binding_kind):
        assert binding["roleRef"]["kind"] == kind
        assert {"kind": "ServiceAccount", "name": sa, "namespace": RELEASE_NS} in binding["subjects"]
        names.add((binding["roleRef"]["name"], binding["metadata"].get("namespace")))
    roles = []
    for role in by_kind(objects, kind):
        key = (role["metadata"]["name"], role["metadata"].get("namespace"))
        assert key in names, f"{kind} {key} is not bound"
        roles.append(role)
    return roles


def test_rbac_cluster_mode():
    objects = render()
    cluster = merged(bound_roles(objects, "ClusterRole"))
    assert cluster == NEEDED
    roles = {r["metadata"]["name"]: r for r in bound_roles(objects, "Role")}
    assert all(r["metadata"]["namespace"] == RELEASE_NS for r in roles.values())
    lease_role = next(r for r in roles.values() if ("coordination.k8s.io", "leases") in grants(r))
    assert grants(lease_role) == LEASES
    named = [r for r in lease_role["rules"] if set(r["verbs"]) & {"get", "update"}]
    assert all(r.get("resourceNames") == [LEASE] for r in named), "get/update must be limited to the Lease"
    key_role = next(r for r in roles.values() if r is not lease_role)
    assert grants(key_role) == MARKER_KEY
    gets = [r for r in key_role["rules"] if "get" in r["verbs"]]
    assert all(r.get("resourceNames") == [MARKER_KEY_SECRET] for r in gets), "get only on the marker-key Secret"


def test_a_supplied_marker_key_is_rendered_and_not_created_by_the_operator():
    objects = render({"markerKey": {"value": "0123456789abcdef-key"}})
    secret = one(objects, "Secret")
    assert secret["metadata"]["name"] == MARKER_KEY_SECRET
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    roles = [r for r in bound_roles(objects, "Role") if ("", "secrets") in grants(r)]
    assert [grants(r) for r in roles] == [{("", "secrets"): {"get"}}], "no create when the chart supplies the key"


def test_rbac_namespaced_mode():
    objects = render(SCENARIOS["namespaced"])
    cluster_roles = bound_roles(objects, "ClusterRole")
    roles = bound_roles(objects, "Role")
    cluster = merged(cluster_roles)
    assert {r for _, r in cluster} == CLUSTER_SCOPED, "only reading ClusterSipProviders may be granted cluster-wide"
    in_watched = merged(r for r in roles if r["metadata"]["namespace"] == "voice")
    in_release = merged(r for r in roles if r["metadata"]["namespace"] == RELEASE_NS)
    assert in_release == {**LEASES, **MARKER_KEY}
    union = defaultdict(set)
    for part in (cluster, in_watched):
        for key, verbs in part.items():
            union[key] |= verbs
    assert dict(union) == NEEDED_NAMESPACED
    assert ("siptrunk.dev", "clustersipproviders/status") not in union
    assert {r for _, r in in_watched} == {r for _, r in NEEDED_NAMESPACED} - CLUSTER_SCOPED


def test_rbac_without_leader_election_has_no_leases():
    for values, needed in (
        (SCENARIOS["no-leader-election"], NEEDED),
        ({**SCENARIOS["namespaced"], "leaderElection": {"enabled": False}}, NEEDED_NAMESPACED),
    ):
        objects = render(values)
        everything = merged(by_kind(objects, "Role") + by_kind(objects, "ClusterRole"))
        expected = defaultdict(set, {k: set(v) for k, v in needed.items()})
        for k, v in MARKER_KEY.items():
            expected[k] |= v
        assert everything == dict(expected)


def test_rbac_can_be_left_to_the_user():
    objects = render({"rbac": {"create": False}})
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert not by_kind(objects, kind)
