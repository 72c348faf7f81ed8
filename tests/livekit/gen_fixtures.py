"""Writes tests/fixtures/livekit/wire.json: LiveKit SIP messages as JSON (the examples of
docs.livekit.io and the proto's field comments) with the protobuf bytes the official Python
types (livekit-protocol, generated from livekit/protocol) make of them. The Rust wire types must
parse the JSON and encode exactly these bytes (src/provider/livekit/wire.rs tests).

    .venv-livekit/bin/python tests/livekit/gen_fixtures.py
"""

import json
import pathlib

from google.protobuf import json_format
from livekit.protocol import sip

CASES = [
    # docs.livekit.io, "Inbound trunk": lk sip inbound create inbound-trunk.json
    ("CreateSIPInboundTrunkRequest", {
        "trunk": {"name": "My trunk", "numbers": ["+15105550100"], "krisp_enabled": True},
    }),
    ("CreateSIPInboundTrunkRequest", {
        "trunk": {
            "name": "Carrier A", "metadata": "op:0123456789",
            "numbers": ["+15105550100", "+15105550101"],
            "allowed_addresses": ["203.0.113.0/24", "198.51.100.7"],
            "allowed_numbers": ["+14155550100"],
            "auth_username": "carrier-a", "auth_password": "fixture-password-1",
            "headers": {"X-B": "2", "X-A": "1"},
            "headers_to_attributes": {"X-Customer": "customer"},
            "include_headers": "SIP_X_HEADERS",
            "ringing_timeout": "30s", "max_call_duration": "3600.5s",
            "media_encryption": "SIP_MEDIA_ENCRYPT_ALLOW",
        },
    }),
    # docs.livekit.io, "Outbound trunk": lk sip outbound create outbound-trunk.json
    ("CreateSIPOutboundTrunkRequest", {
        "trunk": {
            "name": "My outbound trunk", "address": "my-trunk.pstn.twilio.com",
            "numbers": ["+15105550100"], "auth_username": "username", "auth_password": "password",
        },
    }),
    ("CreateSIPOutboundTrunkRequest", {
        "trunk": {
            "name": "EU carrier", "metadata": "op:abc", "address": "sip.carrier.example",
            "transport": "SIP_TRANSPORT_TLS", "destination_country": "DE",
            "numbers": ["+4930555000"], "media_encryption": "SIP_MEDIA_ENCRYPT_REQUIRE",
            "attributes_to_headers": {"agent": "X-Agent"},
        },
    }),
    ("UpdateSIPInboundTrunkRequest", {
        "sip_trunk_id": "ST_abcdefghijkl",
        "update": {
            "numbers": {"add": ["+15105550102"], "remove": ["+15105550100"]},
            "auth_password": "fixture-password-2", "name": "Carrier A (renamed)",
        },
    }),
    ("UpdateSIPOutboundTrunkRequest", {
        "sip_trunk_id": "ST_mnopqrstuvwx",
        "update": {
            "address": "sip2.carrier.example", "transport": "SIP_TRANSPORT_AUTO",
            "numbers": {"set": ["+4930555001"]}, "metadata": "",
        },
    }),
    # docs.livekit.io, "Dispatch rule" (camelCase inside `rule`, as the page shows it)
    ("CreateSIPDispatchRuleRequest", {
        "dispatch_rule": {
            "rule": {"dispatchRuleIndividual": {"roomPrefix": "call-"}},
            "name": "My dispatch rule", "trunk_ids": ["ST_abcdefghijkl"],
            "attributes": {"myAttribute": "x"},
        },
    }),
    ("UpdateSIPDispatchRuleRequest", {
        "sip_dispatch_rule_id": "SDR_abcdefghijkl",
        "update": {"trunk_ids": {"add": ["ST_mnopqrstuvwx"]}, "name": "renamed"},
    }),
    ("ListSIPInboundTrunkRequest", {"trunk_ids": ["ST_abcdefghijkl", "ST_missing00000"]}),
    # A list by ids with a missing one: the server's nil item is an empty message on the wire.
    ("ListSIPInboundTrunkResponse", {"items": [{"sip_trunk_id": "ST_abcdefghijkl", "name": "a"}, {}]}),
    ("SIPTrunkInfo", {"sip_trunk_id": "ST_abcdefghijkl", "kind": "TRUNK_INBOUND", "name": "a"}),
    ("SIPDispatchRuleInfo", {
        "sip_dispatch_rule_id": "SDR_abcdefghijkl",
        "rule": {"dispatch_rule_direct": {"room_name": "support", "pin": "1234"}},
        "trunk_ids": ["ST_abcdefghijkl"], "hide_phone_number": True, "numbers": ["+15105550100"],
    }),
]


def main() -> None:
    out = []
    for name, doc in CASES:
        msg = json_format.ParseDict(doc, getattr(sip, name)())
        out.append({"message": name, "json": doc, "protobuf_hex": msg.SerializeToString(deterministic=True).hex()})
    path = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "livekit" / "wire.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {len(out)} cases to {path}")


if __name__ == "__main__":
    main()
