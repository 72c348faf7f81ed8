"""The chart's RBAC against the Kubernetes API calls the real controller made.

tests/rbac.rs runs the controller through a scenario that touches every
feature, in both watch modes, and writes its calls (verb, group, resource,
namespace, and the name for Leases) to tests/chart/controller-api-calls.json;
it fails when that file is stale. Here both directions are checked against
the roles the chart binds to the operator's service account, rendered with
the same release name, namespace and watch namespace:

* every call is granted by a bound rule whose scope covers it (a Role only
  in its namespace, resourceNames only for that name; create never matches
  resourceNames);
* every verb of every bound rule is used by at least one call that the rule
  covers (least privilege, including scope: a Role in a namespace the
  controller never touched would fail).
"""

from __future__ import annotations

import pytest

from chartlib import RELEASE, RELEASE_NS, by_kind, controller_calls, one, render

CALLS = controller_calls()
MODES = sorted(CALLS["modes"])

# Granted although no call of the scenario uses them, each with its reason.
# Empty: everything the chart grants is exercised.
ALLOWED_UNUSED: dict[tuple[str, str, str], str] = {}


def test_the_calls_file_matches_the_chart_release():
    assert CALLS["release"] == {"name": RELEASE, "namespace": RELEASE_NS, "lease": f"{RELEASE}-siptrunk-operator-leader"}
    assert set(MODES) == {"cluster", "namespaced"}
    for mode in MODES:
        assert CALLS["modes"][mode]["calls"], f"{mode}: no calls recorded"


def bound_rules(objects):
    """(kind, namespace, rule) of every rule bound to the operator's service account."""
    sa = one(objects, "ServiceAccount")["metadata"]["name"]
    out = []
    for kind in ("Role", "ClusterRole"):
        roles = {(r["metadata"]["name"], r["metadata"].get("namespace")): r for r in by_kind(objects, kind)}
        for binding in by_kind(objects, kind + "Binding"):
            if {"kind": "ServiceAccount", "name": sa, "namespace": RELEASE_NS} not in binding["subjects"]:
                continue
            assert binding["roleRef"]["kind"] == kind
            role = roles[(binding["roleRef"]["name"], binding["metadata"].get("namespace"))]
            for rule in role["rules"]:
                out.append((kind, role["metadata"].get("namespace"), rule))
    return out


def covers(kind, namespace, rule, call, verb=None):
    verb = verb or call["verb"]
    if call["apiGroup"] not in rule["apiGroups"] or call["resource"] not in rule["resources"]:
        return False
    if verb not in rule["verbs"] or call["verb"] != verb:
        return False
    if kind == "Role" and call["namespace"] != namespace:
        return False
    names = rule.get("resourceNames")
    return not names or call["name"] in names


@pytest.fixture(scope="module", params=MODES)
def mode(request):
    spec = CALLS["modes"][request.param]
    return request.param, spec["calls"], bound_rules(render(spec["values"]))


def test_every_call_the_controller_makes_is_granted(mode):
    name, calls, rules = mode
    denied = [c for c in calls if not any(covers(k, ns, r, c) for k, ns, r in rules)]
    assert not denied, f"{name}: the chart does not grant {denied}"


def test_every_grant_is_used_by_a_call(mode):
    name, calls, rules = mode
    unused = []
    for kind, ns, rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    if (group, resource, verb) in ALLOWED_UNUSED:
                        continue
                    if not any(covers(kind, ns, rule, c, verb) for c in calls if (c["apiGroup"], c["resource"]) == (group, resource)):
                        unused.append(f"{kind}/{ns or '-'}: {verb} {group or 'core'}/{resource}")
    assert not unused, f"{name}: granted but never used: {unused}"


def test_without_leader_election_no_lease_rule_remains():
    for values in ({"leaderElection": {"enabled": False}}, {"watchNamespace": "voice", "leaderElection": {"enabled": False}}):
        rules = bound_rules(render(values))
        assert not [r for _, _, r in rules if "leases" in r["resources"]]
