"""The Argo CD health scripts, run by a real Lua interpreter (lua5.4) with
`obj` built from Python fixtures the way Argo CD hands a live object over."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest

from chartlib import CHART_DIR
from sync_chart_files import ARGOCD_KEYS

LUA = shutil.which("lua5.4")
pytestmark = pytest.mark.skipif(
    LUA is None, reason="lua5.4 not installed (apt-get install lua5.4; tests/chart/run.sh does it)"
)

TRUNK_SCRIPT = CHART_DIR / "files" / "argocd-health-siptrunk.lua"
PROVIDER_SCRIPT = CHART_DIR / "files" / "argocd-health-sipprovider.lua"

# Runs the script the way Argo CD does: a chunk with `obj` in scope that
# returns hs. Only the libraries Argo CD's sandbox offers are in reach.
HARNESS = r"""
local f = assert(io.open(arg[1], "r"))
local src = f:read("a")
f:close()
local env = {
  obj = %s,
  ipairs = ipairs, pairs = pairs, next = next, type = type, select = select,
  tostring = tostring, tonumber = tonumber, error = error, pcall = pcall,
  string = string, table = table, math = math,
}
local chunk = assert(load(src, "=health.lua", "t", env))
local hs = chunk()
assert(type(hs) == "table", "the script must return hs")
io.write(tostring(hs.status), "\n", tostring(hs.message), "\n")
"""


def lua_literal(value) -> str:
    """A Python value (as decoded from JSON) as a Lua expression."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_literal(str(k))}] = {lua_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def health(script, obj, tmp_path) -> tuple[str, str]:
    harness = tmp_path / "harness.lua"
    harness.write_text(HARNESS % lua_literal(obj))
    done = subprocess.run([LUA, str(harness), str(script)], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    status, message = done.stdout.split("\n")[:2]
    return status, message


def cond(ctype, status, reason, message=""):
    return {"type": ctype, "status": status, "reason": reason, "message": message,
            "observedGeneration": 3, "lastTransitionTime": "2025-01-01T00:00:00Z"}


def trunk(conditions=None, generation=3, observed=3, annotations=None, spec=None, status=True):
    obj = {
        "apiVersion": "siptrunk.dev/v1alpha1",
        "kind": "SipTrunk",
        "metadata": {"name": "main-line", "namespace": "voice", "generation": generation},
        "spec": spec or {"providerRef": {"kind": "SipProvider", "name": "autocalls-prod"}},
    }
    if annotations:
        obj["metadata"]["annotations"] = annotations
    if status:
        obj["status"] = {"observedGeneration": observed, "conditions": conditions or []}
        if observed is None:
            del obj["status"]["observedGeneration"]
    return obj


READY = cond("Ready", "True", "Synced", "trunk 42 matches the spec")
SYNCED = cond("Synced", "True", "Synced")
NOT_RECONCILING = cond("Reconciling", "False", "Synced")
NOT_STALLED = cond("Stalled", "False", "Synced")

TRUNK_CASES = {
    "ready": (trunk([READY, SYNCED, NOT_RECONCILING, NOT_STALLED]), "Healthy", "Synced"),
    "generation ahead": (trunk([READY, SYNCED], generation=4, observed=3), "Progressing",
                         "waiting for the operator to observe generation 4"),
    "no observedGeneration": (trunk([READY], observed=None), "Progressing", "generation 3"),
    "no status": (trunk(status=False), "Progressing", "waiting for the operator"),
    "empty conditions": (trunk([]), "Progressing", "waiting for the Ready condition"),
    "reconciling": (trunk([cond("Ready", "False", "Creating"), cond("Reconciling", "True", "Creating", "creating trunk")]),
                    "Progressing", "Creating: creating trunk"),
    "stalled": (trunk([cond("Ready", "False", "ProviderError"), cond("Stalled", "True", "ProviderError", "HTTP 500 five times")]),
                "Degraded", "ProviderError: HTTP 500 five times"),
    "invalid spec": (trunk([cond("Ready", "False", "InvalidSpec", "bolna settings on an autocalls provider")]),
                     "Degraded", "InvalidSpec: bolna settings on an autocalls provider"),
    "secret not found": (trunk([cond("Ready", "False", "SecretNotFound", "secret voice/main-line-sip not found")]),
                         "Degraded", "SecretNotFound"),
    "unauthorized": (trunk([cond("Ready", "False", "Unauthorized")]), "Degraded", "Unauthorized"),
    "conflict": (trunk([cond("Ready", "False", "Conflict", "trunk 7 has no marker")]), "Degraded", "Conflict"),
    "provider not found": (trunk([cond("Ready", "False", "ProviderNotFound")]), "Degraded", "ProviderNotFound"),
    "rate limited is transient": (trunk([cond("Ready", "False", "RateLimited", "retry in 10s"), NOT_STALLED]),
                                  "Progressing", "RateLimited: retry in 10s"),
    "deleting": (trunk([cond("Ready", "False", "Deleting")]), "Progressing", "Deleting"),
    "paused annotation": (trunk([READY], annotations={"siptrunk.dev/paused": "true"}), "Suspended", "paused"),
    "paused annotation false": (trunk([READY], annotations={"siptrunk.dev/paused": "false"}), "Healthy", "Synced"),
    "ready reason Paused": (trunk([cond("Ready", "False", "Paused", "writes paused")]), "Suspended", "Paused: writes paused"),
    "observe only": (trunk([cond("Ready", "True", "ObserveOnly", "2 fields differ")]), "Suspended", "ObserveOnly: 2 fields differ"),
    "observeOnly in spec": (trunk([READY], spec={"observeOnly": True}), "Suspended", "observeOnly"),
    "paused but generation ahead": (trunk([READY], generation=5, observed=4, annotations={"siptrunk.dev/paused": "true"}),
                                    "Progressing", "generation 5"),
}


@pytest.mark.parametrize("case", list(TRUNK_CASES))
def test_siptrunk_health(case, tmp_path):
    obj, want_status, want_message = TRUNK_CASES[case]
    status, message = health(TRUNK_SCRIPT, obj, tmp_path)
    assert (status, want_message in message) == (want_status, True), f"{case}: got {status!r} {message!r}"


def dispatch_rule(conditions=None, generation=3, observed=3, status=True):
    obj = trunk(conditions, generation, observed, status=status)
    obj["kind"] = "SipDispatchRule"
    obj["spec"] = {"providerRef": {"name": "livekit-prod"}, "trunkRefs": [{"name": "main-line"}],
                   "rule": {"individual": {"roomPrefix": "call-"}}}
    return obj


# Conditions as src/controller/dispatch.rs writes them (status::conditions: Stalled or
# Reconciling beside a False Ready).
DISPATCH_CASES = {
    "ready": (dispatch_rule([cond("Ready", "True", "Synced", "the provider holds exactly this trunk"), SYNCED]),
              "Healthy", "Synced"),
    "generation ahead": (dispatch_rule([READY], generation=4, observed=3), "Progressing", "generation 4"),
    "no status": (dispatch_rule(status=False), "Progressing", "waiting for the operator"),
    "waiting for its trunk": (dispatch_rule([cond("Ready", "False", "TrunkNotReady", "SipTrunk main-line is not Ready"),
                                             cond("Reconciling", "True", "TrunkNotReady", "SipTrunk main-line is not Ready")]),
                              "Progressing", "TrunkNotReady: SipTrunk main-line is not Ready"),
    "forged trunk id": (dispatch_rule([cond("Ready", "False", "TrunkNotOwned", "ST_x is not this SipTrunk's"),
                                       cond("Stalled", "True", "TrunkNotOwned", "ST_x is not this SipTrunk's")]),
                        "Degraded", "TrunkNotOwned"),
    "allTrunks on a ClusterSipProvider": (dispatch_rule([cond("Ready", "False", "AllTrunksRefused"),
                                                         cond("Stalled", "True", "AllTrunksRefused", "shared")]),
                                          "Degraded", "AllTrunksRefused"),
    "provider not livekit": (dispatch_rule([cond("Ready", "False", "ProviderNotLiveKit"),
                                            cond("Stalled", "True", "ProviderNotLiveKit", "not a livekit provider")]),
                             "Degraded", "ProviderNotLiveKit"),
    "provider unavailable": (dispatch_rule([cond("Ready", "False", "ProviderUnavailable"),
                                            cond("Reconciling", "True", "ProviderUnavailable", "HTTP 503")]),
                             "Progressing", "ProviderUnavailable: HTTP 503"),
}


def test_sipdispatchrule_uses_the_siptrunk_script():
    assert ARGOCD_KEYS["resource.customizations.health.siptrunk.dev_SipDispatchRule"] == TRUNK_SCRIPT.name


@pytest.mark.parametrize("case", list(DISPATCH_CASES))
def test_sipdispatchrule_health(case, tmp_path):
    obj, want_status, want_message = DISPATCH_CASES[case]
    status, message = health(TRUNK_SCRIPT, obj, tmp_path)
    assert (status, want_message in message) == (want_status, True), f"{case}: got {status!r} {message!r}"


def provider(conditions=None, generation=1, observed=1, status=True, kind="SipProvider"):
    obj = trunk(conditions, generation, observed, status=status)
    obj["kind"] = kind
    obj["spec"] = {"type": "autocalls", "apiTokenSecretRef": {"name": "tok", "key": "token"}}
    return obj


PROVIDER_CASES = {
    "ready": (provider([cond("Ready", "True", "Ready", "listed 3 trunks")]), "Healthy", "listed 3 trunks"),
    "cluster provider ready": (provider([cond("Ready", "True", "Ready")], kind="ClusterSipProvider"), "Healthy", "Ready"),
    "unauthorized": (provider([cond("Ready", "False", "Unauthorized", "401 from provider")]), "Degraded", "401"),
    "token secret missing": (provider([cond("Ready", "False", "SecretNotFound")]), "Degraded", "SecretNotFound"),
    "rate limited": (provider([cond("Ready", "False", "RateLimited")]), "Progressing", "RateLimited"),
    "generation ahead": (provider([cond("Ready", "True", "Ready")], generation=2), "Progressing", "generation 2"),
    "no status": (provider(status=False), "Progressing", "waiting"),
    "stalled": (provider([cond("Stalled", "True", "ProviderError", "down")]), "Degraded", "down"),
}


@pytest.mark.parametrize("case", list(PROVIDER_CASES))
def test_sipprovider_health(case, tmp_path):
    obj, want_status, want_message = PROVIDER_CASES[case]
    status, message = health(PROVIDER_SCRIPT, obj, tmp_path)
    assert (status, want_message in message) == (want_status, True), f"{case}: got {status!r} {message!r}"


def test_scripts_stay_within_lua_5_1():
    """Argo CD runs gopher-lua (Lua 5.1): none of the 5.2+ syntax."""
    for script in (TRUNK_SCRIPT, PROVIDER_SCRIPT):
        src = script.read_text()
        for construct in ("goto ", "//", "::", "<const>", "<close>", "&", " ~ ", "<<", ">>"):
            code = "\n".join(line.split("--", 1)[0] for line in src.splitlines())
            assert construct not in code, f"{script.name}: {construct!r} is not Lua 5.1"


# ---------------------------------------------------------------------------------------------
# Provider status exactly as the operator writes it: tests/fixtures/provider-status/*.json come
# from the pure provider_status() (tests/provider_status.rs keeps them fresh). Each case has the
# answer Argo CD (the Lua above) and Flux/kstatus must give.

STATUS_FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "provider-status"

# case: (Argo CD health, kstatus status)
PROVIDER_STATUS_EXPECTED = {
    "token-accepted": ("Healthy", "Current"),
    "cluster-token-accepted": ("Healthy", "Current"),
    "unauthorized": ("Degraded", "Failed"),
    "secret-not-found": ("Degraded", "Failed"),
    "config-invalid": ("Degraded", "Failed"),
    "provider-unavailable": ("Progressing", "InProgress"),
    "rate-limited": ("Progressing", "InProgress"),
    "checking": ("Progressing", "InProgress"),
    "not-checked": ("Healthy", "Current"),
    "generation-ahead": ("Progressing", "InProgress"),
}


def kstatus(obj) -> str:
    """kstatus' answer for a custom resource (sigs.k8s.io/cli-utils pkg/kstatus/status: Compute,
    checkGenericProperties, checkGeneration; no legacy rules apply to CRDs): Terminating with a
    deletionTimestamp; InProgress while status.observedGeneration, when present, differs from
    metadata.generation; then the first of Reconciling=True (InProgress) or Stalled=True
    (Failed) in condition order; otherwise Current. Ready is not read."""
    meta = obj.get("metadata", {})
    if meta.get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status") or {}
    if "generation" in meta and "observedGeneration" in status and status["observedGeneration"] != meta["generation"]:
        return "InProgress"
    for c in status.get("conditions") or []:
        if c.get("type") == "Reconciling" and c.get("status") == "True":
            return "InProgress"
        if c.get("type") == "Stalled" and c.get("status") == "True":
            return "Failed"
    return "Current"


def test_every_provider_status_fixture_has_an_expectation():
    cases = sorted(p.stem for p in STATUS_FIXTURES.glob("*.json"))
    assert cases == sorted(PROVIDER_STATUS_EXPECTED), "fixtures and expectations differ"


@pytest.mark.parametrize("case", sorted(PROVIDER_STATUS_EXPECTED))
def test_operator_written_provider_status_in_argocd(case, tmp_path):
    obj = json.loads((STATUS_FIXTURES / f"{case}.json").read_text())
    status, message = health(PROVIDER_SCRIPT, obj, tmp_path)
    assert status == PROVIDER_STATUS_EXPECTED[case][0], f"{case}: got {status!r} {message!r}"
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    if case != "generation-ahead":
        assert ready["reason"] in message, f"{case}: the message names the reason: {message!r}"


@pytest.mark.parametrize("case", sorted(PROVIDER_STATUS_EXPECTED))
def test_operator_written_provider_status_in_kstatus(case):
    obj = json.loads((STATUS_FIXTURES / f"{case}.json").read_text())
    assert kstatus(obj) == PROVIDER_STATUS_EXPECTED[case][1], case


def test_kstatus_port_agrees_with_the_documented_rules():
    """Controls for the port itself: no status is Current (why an unwritten provider status
    was Current even with a revoked token), and deletion wins."""
    bare = {"kind": "SipProvider", "metadata": {"name": "p", "generation": 1}}
    assert kstatus(bare) == "Current"
    assert kstatus({**bare, "metadata": {"name": "p", "generation": 1, "deletionTimestamp": "2026-01-01T00:00:00Z"}}) == "Terminating"
    assert kstatus({**bare, "status": {"observedGeneration": 0}}) == "InProgress"
