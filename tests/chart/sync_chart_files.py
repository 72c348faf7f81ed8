"""Bring the chart's generated copies up to date:
  - charts/siptrunk-operator/files/crds/siptrunk.dev.yaml from crds/siptrunk.dev.yaml
  - charts/siptrunk-operator/files/argocd-cm-health.yaml from the .lua files
Run from anywhere: python3 tests/chart/sync_chart_files.py
"""

from __future__ import annotations

import pathlib
import shutil

REPO = pathlib.Path(__file__).resolve().parents[2]
FILES = REPO / "charts" / "siptrunk-operator" / "files"

ARGOCD_KEYS = {
    "resource.customizations.health.siptrunk.dev_SipTrunk": "argocd-health-siptrunk.lua",
    "resource.customizations.health.siptrunk.dev_SipProvider": "argocd-health-sipprovider.lua",
    "resource.customizations.health.siptrunk.dev_ClusterSipProvider": "argocd-health-sipprovider.lua",
    # A SipDispatchRule's status has the SipTrunk's shape (Ready/Reconciling/Stalled,
    # observedGeneration): the same rules apply.
    "resource.customizations.health.siptrunk.dev_SipDispatchRule": "argocd-health-siptrunk.lua",
}

HEADER = """\
# Argo CD health checks for siptrunk.dev objects, as a merge patch for argocd-cm:
#   kubectl -n argocd patch configmap argocd-cm --type merge \\
#     --patch-file charts/siptrunk-operator/files/argocd-cm-health.yaml
# Generated from the .lua files beside it by tests/chart/sync_chart_files.py; a test checks they agree.
data:
"""


def argocd_cm_patch() -> str:
    text = HEADER
    for key, name in ARGOCD_KEYS.items():
        lines = (FILES / name).read_text().rstrip("\n").split("\n")
        text += f"  {key}: |\n" + "\n".join(("    " + line) if line else "" for line in lines) + "\n"
    return text


def main() -> None:
    shutil.copyfile(REPO / "crds" / "siptrunk.dev.yaml", FILES / "crds" / "siptrunk.dev.yaml")
    (FILES / "argocd-cm-health.yaml").write_text(argocd_cm_patch())
    print("synced files/crds/siptrunk.dev.yaml and files/argocd-cm-health.yaml")


if __name__ == "__main__":
    main()
