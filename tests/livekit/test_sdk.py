"""The official LiveKit Python server SDK against our LiveKit emulator flavor.

Starts `siptrunk-operator emulator --flavor livekit` on a free port, then, through
`livekit.api.LiveKitAPI` (protobuf over Twirp, JWT from the SDK's AccessToken): creates, lists,
updates (the `update` form with ListUpdate) and deletes inbound and outbound trunks and a
dispatch rule; checks the list-by-ids nil items; and checks that a wrong secret, an unknown key,
an expired token and a token without the SIP admin grant are refused with the Twirp codes.
Exit status 0 when every check passed.

    python tests/livekit/test_sdk.py target/debug/siptrunk-operator
"""

from __future__ import annotations

import asyncio
import datetime
import re
import subprocess
import sys

import aiohttp
from livekit import api
from livekit.protocol import sip as sip_pb
from livekit.protocol.models import ListUpdate

KEY = "APIsdktest"
SECRET = "sdk-test-secret-0123456789abcdefghij"
ID = re.compile(r"^ST_[A-Za-z0-9]{12}$")
RULE_ID = re.compile(r"^SDR_[A-Za-z0-9]{12}$")

checks = 0


def check(cond: bool, what: str) -> None:
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


async def expect_error(coro, code: str, status: int, what: str) -> None:
    try:
        await coro
    except api.TwirpError as e:
        check(e.code == code and e.status == status, f"{what}: got {e.code}/{e.status}, want {code}/{status}")
        return
    raise AssertionError(f"{what}: no error")


async def lifecycle(url: str) -> None:
    lk = api.LiveKitAPI(url, KEY, SECRET, failover=False)
    try:
        inb = await lk.sip.create_inbound_trunk(
            api.CreateSIPInboundTrunkRequest(
                trunk=api.SIPInboundTrunkInfo(
                    name="main line",
                    metadata="op:0123456789",
                    numbers=["+15105550100"],
                    allowed_addresses=["203.0.113.0/24"],
                    auth_username="main",
                    auth_password="sdk-password-1",
                    krisp_enabled=True,
                    headers={"X-Team": "support"},
                    media_encryption=sip_pb.SIP_MEDIA_ENCRYPT_ALLOW,
                )
            )
        )
        check(bool(ID.match(inb.sip_trunk_id)), f"inbound id shape: {inb.sip_trunk_id}")
        check(inb.krisp_enabled and dict(inb.headers) == {"X-Team": "support"}, "inbound fields echoed")
        check(inb.media_encryption == sip_pb.SIP_MEDIA_ENCRYPT_ALLOW, "enum echoed")

        out = await lk.sip.create_outbound_trunk(
            api.CreateSIPOutboundTrunkRequest(
                trunk=api.SIPOutboundTrunkInfo(
                    name="out",
                    metadata="op:0123456789",
                    address="sip.carrier.example",
                    transport=sip_pb.SIP_TRANSPORT_TCP,
                    numbers=["+15105550100"],
                    auth_username="out",
                    auth_password="sdk-password-2",
                    destination_country="US",
                )
            )
        )
        check(bool(ID.match(out.sip_trunk_id)) and out.sip_trunk_id != inb.sip_trunk_id, "outbound id")

        listed = await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
        check([t.sip_trunk_id for t in listed.items] == [inb.sip_trunk_id], "list inbound")
        by_ids = await lk.sip.list_inbound_trunk(
            api.ListSIPInboundTrunkRequest(trunk_ids=["ST_doesnotexist", inb.sip_trunk_id])
        )
        check(len(by_ids.items) == 2, "list by ids: one item per id")
        check(by_ids.items[0].sip_trunk_id == "" and by_ids.items[1].sip_trunk_id == inb.sip_trunk_id, "nil item")
        outs = await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
        check([t.sip_trunk_id for t in outs.items] == [out.sip_trunk_id], "list outbound")

        # Password rotation and a number added, as a partial update: same id, rest untouched.
        upd = await lk.sip.update_inbound_trunk_fields(
            inb.sip_trunk_id,
            numbers=ListUpdate(add=["+15105550101"]),
            auth_password="sdk-password-rotated",
            name="main line (renamed)",
        )
        check(upd.sip_trunk_id == inb.sip_trunk_id, "update keeps the id")
        check(list(upd.numbers) == ["+15105550100", "+15105550101"], f"ListUpdate add: {list(upd.numbers)}")
        check(list(upd.allowed_addresses) == ["203.0.113.0/24"] and upd.krisp_enabled, "untouched fields survive")
        check(upd.name == "main line (renamed)" and upd.metadata == "op:0123456789", "name changed, marker kept")
        upd = await lk.sip.update_inbound_trunk_fields(inb.sip_trunk_id, numbers=ListUpdate(remove=["+15105550100"]))
        check(list(upd.numbers) == ["+15105550101"], "ListUpdate remove")

        oupd = await lk.sip.update_outbound_trunk_fields(
            out.sip_trunk_id, address="sip2.carrier.example", numbers=["+15105550199"]
        )
        check(oupd.address == "sip2.carrier.example" and list(oupd.numbers) == ["+15105550199"], "outbound update")
        check(oupd.transport == sip_pb.SIP_TRANSPORT_TCP and oupd.destination_country == "US", "outbound kept")

        await expect_error(
            lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(trunk=api.SIPOutboundTrunkInfo(name="bad", numbers=["+1"]))
            ),
            "invalid_argument",
            400,
            "outbound without address",
        )

        rule = await lk.sip.create_dispatch_rule(
            api.CreateSIPDispatchRuleRequest(
                dispatch_rule=api.SIPDispatchRuleInfo(
                    rule=api.SIPDispatchRule(
                        dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix="call-")
                    ),
                    trunk_ids=[inb.sip_trunk_id],
                    name="main",
                    metadata="op:0123456789",
                )
            )
        )
        check(bool(RULE_ID.match(rule.sip_dispatch_rule_id)), f"rule id shape: {rule.sip_dispatch_rule_id}")
        check(rule.rule.dispatch_rule_individual.room_prefix == "call-", "oneof rule echoed")
        rupd = await lk.sip.update_dispatch_rule_fields(
            rule.sip_dispatch_rule_id, name="renamed", trunk_ids=ListUpdate(add=[out.sip_trunk_id])
        )
        check(rupd.name == "renamed" and list(rupd.trunk_ids) == [inb.sip_trunk_id, out.sip_trunk_id], "rule update")
        rules = await lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest(trunk_ids=[inb.sip_trunk_id]))
        check([r.sip_dispatch_rule_id for r in rules.items] == [rule.sip_dispatch_rule_id], "list rules by trunk")

        await lk.sip.delete_dispatch_rule(api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule.sip_dispatch_rule_id))
        deleted = await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=inb.sip_trunk_id))
        check(deleted.sip_trunk_id == inb.sip_trunk_id, "delete inbound answers its id")
        await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=out.sip_trunk_id))
        await expect_error(
            lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=out.sip_trunk_id)), "not_found", 404, "gone"
        )
        check(not (await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())).items, "no inbound left")
        check(not (await lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())).items, "no rules left")
    finally:
        await lk.aclose()


async def refusals(url: str) -> None:
    for key, secret, what in ((KEY, "wrong-secret-wrong-secret-wrong-secret", "wrong secret"), ("APIunknown", SECRET, "unknown key")):
        lk = api.LiveKitAPI(url, key, secret, failover=False)
        try:
            await expect_error(
                lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest()), "unauthenticated", 401, what
            )
        finally:
            await lk.aclose()

    # Tokens made with the SDK's AccessToken, sent as the SDK sends requests (protobuf).
    async def raw(token: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as s:
            async with s.post(
                f"{url}/twirp/livekit.SIP/ListSIPInboundTrunk",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/protobuf"},
                data=api.ListSIPInboundTrunkRequest().SerializeToString(),
            ) as r:
                if r.status == 200:
                    return r.status, ""
                return r.status, (await r.json(content_type=None) or {}).get("code", "")

    no_grant = api.AccessToken(KEY, SECRET).with_grants(api.VideoGrants(room_list=True)).to_jwt()
    status, code = await raw(no_grant)
    check((status, code) == (403, "permission_denied"), f"token without sip admin: {status} {code}")
    call_only = api.AccessToken(KEY, SECRET).with_sip_grants(api.SIPGrants(call=True)).to_jwt()
    status, code = await raw(call_only)
    check((status, code) == (403, "permission_denied"), f"sip call grant is not admin: {status} {code}")
    expired = (
        api.AccessToken(KEY, SECRET)
        .with_sip_grants(api.SIPGrants(admin=True))
        .with_ttl(datetime.timedelta(seconds=-120))
        .to_jwt()
    )
    status, code = await raw(expired)
    check((status, code) == (401, "unauthenticated"), f"expired token: {status} {code}")
    admin = api.AccessToken(KEY, SECRET).with_sip_grants(api.SIPGrants(admin=True)).to_jwt()
    status, _ = await raw(admin)
    check(status == 200, f"the SDK's own admin token is accepted: {status}")


def main() -> int:
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/siptrunk-operator"
    proc = subprocess.Popen(
        [binary, "emulator", "--flavor", "livekit", "--port", "0", "--token", f"{KEY}:{SECRET}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        assert proc.stdout is not None
        for line in proc.stdout:
            m = re.search(r"listening at (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        if url is None:
            print("LIVEKIT SDK: the emulator did not start", file=sys.stderr)
            return 1
        asyncio.run(lifecycle(url))
        asyncio.run(refusals(url))
    except AssertionError as e:
        print(f"LIVEKIT SDK: FAILED after {checks} checks: {e}", file=sys.stderr)
        return 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"LIVEKIT SDK: {checks} checks passed (livekit-api as the client, our emulator as the server)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
