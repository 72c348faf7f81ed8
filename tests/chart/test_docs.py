"""The chart's docs and generated files say what the chart does."""

from __future__ import annotations

import re

import yaml

from chartlib import CHART_DIR, chart
from sync_chart_files import ARGOCD_KEYS, argocd_cm_patch

README = CHART_DIR / "README.md"
FILES = CHART_DIR / "files"


def yaml_blocks(text: str) -> list[dict]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def test_argocd_cm_patch_file_matches_the_lua_scripts():
    path = FILES / "argocd-cm-health.yaml"
    assert path.read_text() == argocd_cm_patch(), "run: python3 tests/chart/sync_chart_files.py"
    data = yaml.safe_load(path.read_text())["data"]
    for key, name in ARGOCD_KEYS.items():
        assert data[key] == (FILES / name).read_text()


def test_readme_argocd_cm_snippet_is_the_shipped_script():
    (cm,) = [b for b in yaml_blocks(README.read_text()) if b.get("kind") == "ConfigMap"]
    assert cm["metadata"]["name"] == "argocd-cm"
    key = "resource.customizations.health.siptrunk.dev_SipTrunk"
    assert cm["data"][key] == (FILES / "argocd-health-siptrunk.lua").read_text(), (
        "README's argocd-cm snippet differs from files/argocd-health-siptrunk.lua"
    )


def test_readme_flux_kustomization_waits():
    blocks = yaml_blocks(README.read_text())
    (ks,) = [b for b in blocks if b.get("kind") == "Kustomization"]
    assert ks["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1" and ks["spec"]["wait"] is True
    checks = [b for b in blocks if "healthChecks" in b.get("spec", {})]
    assert checks and checks[0]["spec"]["healthChecks"][0]["apiVersion"] == "siptrunk.dev/v1alpha1"


# Kubernetes objects or label maps passed through whole: documented as one row.
WHOLE = {"resources", "podSecurityContext", "containerSecurityContext", "livenessProbe", "readinessProbe",
         "grafanaDashboard.labels"}


def leaves(values: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in WHOLE:
            out += leaves(value, path + ".")
        else:
            out.append(path)
    return out


def test_readme_documents_every_value():
    readme = README.read_text()
    missing = [p for p in leaves(chart().values) if f"| `{p}` |" not in readme]
    assert not missing, f"values missing from the README table: {missing}"
