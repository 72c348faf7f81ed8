"""Helpers for the chart tests: render the chart with the real Helm v4 engine
(helm-python-sdk binds Helm's Go SDK; no helm binary, no cluster) and
parse the result into Kubernetes objects."""

from __future__ import annotations

import pathlib
from typing import Any

import yaml

import helm_python as helm  # pip install -r tests/chart/requirements.txt

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "charts" / "siptrunk-operator"
RELEASE = "sip"
RELEASE_NS = "siptrunk-system"

_chart = None


def chart():
    """The chart, loaded once per session (Chart.load)."""
    global _chart
    if _chart is None:
        _chart = helm.Chart.load(str(CHART_DIR))
    return _chart


def render_raw(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Chart.render: template path -> rendered text, as `helm template` would."""
    return chart().render(values or {}, name=RELEASE, namespace=RELEASE_NS)


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Render and parse every manifest into objects (NOTES.txt left out)."""
    objects: list[dict[str, Any]] = []
    for path, text in sorted(render_raw(values).items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append(doc)
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]
