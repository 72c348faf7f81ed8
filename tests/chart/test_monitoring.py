"""The chart's PrometheusRule (checked and unit-tested with promtool) and Grafana
dashboard (a ConfigMap the Grafana sidecar loads). That every metric they use is
one the operator exports is checked against a live /metrics scrape by
tests/e2e_ops.rs (metrics_count_...)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from chartlib import CHART_DIR, REPO, one, render

PROMTOOL_TESTS = REPO / "tests" / "chart" / "promtool" / "alerts_test.yaml"
DASHBOARD = CHART_DIR / "files" / "grafana-dashboard.json"
ALERTS = {
    "SiptrunkOperatorDown",
    "SiptrunkOperatorNoLeader",
    "SiptrunkReconcileErrors",
    "SiptrunkProviderUnauthorized",
    "SiptrunkProviderRateLimited",
    "SiptrunkTrunksNotReady",
}


def promtool(*args: str, cwd) -> subprocess.CompletedProcess:
    exe = shutil.which("promtool")
    assert exe, "promtool missing: bash tests/chart/run.sh installs it (Debian package prometheus)"
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def rules(values: dict | None = None) -> dict:
    return one(render({"prometheusRule": {"enabled": True}, **(values or {})}), "PrometheusRule")


def test_rules_pass_promtool_check(tmp_path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules()["spec"]))
    out = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in out.stdout


def test_alerts_fire_on_their_series_and_stay_quiet_otherwise(tmp_path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules()["spec"]))
    shutil.copy(PROMTOOL_TESTS, tmp_path / "alerts_test.yaml")
    out = promtool("test", "rules", "alerts_test.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    tested = set(re.findall(r"alertname: (\w+)", PROMTOOL_TESTS.read_text()))
    assert tested == ALERTS, f"alerts without a promtool test: {ALERTS - tested}"


def test_a_broken_rule_fails_promtool(tmp_path):
    """The check can fail: a rule with a PromQL syntax error is refused."""
    spec = rules()["spec"]
    spec["groups"][0]["rules"][0]["expr"] = "sum(rate(siptrunk_reconciles_total[5m]"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    assert promtool("check", "rules", "rules.yaml", cwd=tmp_path).returncode != 0


def test_every_expression_selects_this_release():
    spec = rules()["spec"]
    names = {r["alert"] for g in spec["groups"] for r in g["rules"]}
    assert names == ALERTS
    selector = 'job="sip-siptrunk-operator-metrics",namespace="siptrunk-system"'
    for g in spec["groups"]:
        for r in g["rules"]:
            selectors = re.findall(r"\b[a-z_]+\{([^}]*)\}", r["expr"])
            assert selectors, r["alert"]
            for s in selectors:
                assert s.startswith(selector), f"{r['alert']}: {{{s}}} does not select this release"
            assert r["labels"]["severity"] in {"critical", "warning"}
            assert r["annotations"]["summary"] and r["annotations"]["description"]
    custom = rules({"prometheusRule": {"enabled": True, "selector": 'job="op",cluster="eu1"', "for": {"down": "2m"}}})
    down = next(r for r in custom["spec"]["groups"][0]["rules"] if r["alert"] == "SiptrunkOperatorDown")
    assert down["expr"] == 'absent(up{job="op",cluster="eu1"} == 1)' and down["for"] == "2m"


def test_the_metrics_service_is_what_the_default_selector_names():
    objects = render({"prometheusRule": {"enabled": True}, "serviceMonitor": {"enabled": True}})
    service = one(objects, "Service")
    # The Prometheus Operator names the job after the Service the ServiceMonitor selects.
    assert f'job="{service["metadata"]["name"]}"' in one(objects, "PrometheusRule")["spec"]["groups"][0]["rules"][1]["expr"]


def dashboard_configmap(values: dict | None = None) -> dict:
    return one(render({"grafanaDashboard": {"enabled": True}, **(values or {})}), "ConfigMap")


def test_dashboard_configmap_carries_the_sidecar_label_and_the_file():
    cm = dashboard_configmap()
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "siptrunk-system"
    (key,) = cm["data"]
    assert key.endswith(".json")
    assert json.loads(cm["data"][key]) == json.loads(DASHBOARD.read_text()), "rendered dashboard differs from the file"
    # Helm merges maps: another sidecar label is added; null removes the default one.
    custom = dashboard_configmap({"grafanaDashboard": {"enabled": True, "labels": {"dashboards": "sip"}}})
    assert custom["metadata"]["labels"]["dashboards"] == "sip" and custom["metadata"]["labels"]["grafana_dashboard"] == "1"
    only = dashboard_configmap({"grafanaDashboard": {"enabled": True, "labels": {"dashboards": "sip", "grafana_dashboard": None}}})
    assert only["metadata"]["labels"]["dashboards"] == "sip" and "grafana_dashboard" not in only["metadata"]["labels"]


def panels(dash: dict) -> list[dict]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def test_dashboard_is_a_grafana_dashboard_with_queries_on_a_chosen_datasource():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "siptrunk-operator" and dash["title"]
    assert "id" not in dash or dash["id"] is None, "a fixed id clashes on import"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    queries = 0
    for p in panels(dash):
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        for t in p["targets"]:
            queries += 1
            assert '$namespace' in t["expr"] and '$job' in t["expr"], f"{p['title']}: {t['expr']} ignores the selectors"
    assert queries >= 15
    text = DASHBOARD.read_text()
    for family in ("controller_runtime_reconcile_total", "siptrunk_provider_request_duration_seconds_bucket",
                   "siptrunk_leader", "process_resident_memory_bytes", "siptrunk_trunks_not_ready"):
        assert family in text, f"the dashboard does not show {family}"


@pytest.mark.parametrize("path", ["templates/prometheusrule.yaml", "files/grafana-dashboard.json"])
def test_readme_lists_what_the_monitoring_uses(path):
    readme = (CHART_DIR / "README.md").read_text()
    if path.endswith(".yaml"):
        for alert in ALERTS:
            assert f"`{alert}`" in readme, f"chart README does not describe {alert}"
    else:
        assert "grafana_dashboard" in readme
