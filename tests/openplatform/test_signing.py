"""Every way a signed request can be refused, and the ways it is accepted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from puhui.db.engine import run_in_transaction
from puhui.openplatform import auth, partners, signing
from puhui.openplatform.models import nonces, partner_keys

from .conftest import ACTOR, World, signed_client


def code_of(response) -> str:  # type: ignore[no-untyped-def]
    return response.json()["error"]["code"]


def test_a_signed_request_lists_the_partner_s_products(world: World):
    r = world.client(world.live).request("GET", "/open/v1/products")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["livemode"] is True
    assert [(p["code"], p["terms"]) for p in body["data"]] == [("XFD", [3, 6, 12])]
    assert body["data"][0]["max_amount_fen"] == 20_000_000


def test_a_product_the_partner_may_not_sell_is_not_listed(world: World):
    other = world.partner("other", product_codes=["NOPE"])
    assert world.client(other).get("/open/v1/products")["data"] == []


def test_missing_headers_are_refused(world: World):
    r = world.client(world.live).http.get("/open/v1/products")
    assert r.status_code == 401 and code_of(r) == "signature_missing"


def test_a_wrong_secret_is_a_bad_signature(world: World):
    forged = partners.Credentials(world.live.partner, world.live.key_id, "sk_guessed")
    r = world.client(forged).request("GET", "/open/v1/products")
    assert r.status_code == 401 and code_of(r) == "signature_invalid"


def test_a_changed_body_or_query_breaks_the_signature(world: World):
    client = world.client(world.live)
    headers = client.signed_headers("POST", "/open/v1/webhooks/subscriptions", None, b"{}")
    r = client.http.post(
        "/open/v1/webhooks/subscriptions",
        content=b'{"url":"http://x.example/h","topics":["loan.overdue"]}',
        headers={**headers, "Idempotency-Key": "k1", "Content-Type": "application/json"},
    )
    assert r.status_code == 401 and code_of(r) == "signature_invalid"
    headers = client.signed_headers("GET", "/open/v1/webhooks/deliveries", {"limit": "5"}, b"")
    r = client.http.get("/open/v1/webhooks/deliveries", params={"limit": "6"}, headers=headers)
    assert r.status_code == 401 and code_of(r) == "signature_invalid"
    headers = client.signed_headers("GET", "/open/v1/webhooks/deliveries", {"limit": "5"}, b"")
    r = client.http.get("/open/v1/webhooks/deliveries", params={"limit": "5"}, headers=headers)
    assert r.status_code == 200


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_a_timestamp_more_than_five_minutes_off_is_refused(world: World, skew: int):
    r = signed_client(world.platform, world.live, skew_s=skew).request("GET", "/open/v1/products")
    assert r.status_code == 401 and code_of(r) == "timestamp_out_of_window"


@pytest.mark.parametrize("skew", [-299, 299])
def test_a_timestamp_within_five_minutes_is_accepted(world: World, skew: int):
    r = signed_client(world.platform, world.live, skew_s=skew).request("GET", "/open/v1/products")
    assert r.status_code == 200


def test_a_reused_nonce_is_refused_even_on_another_worker(world: World):
    client = world.client(world.live)
    headers = client.signed_headers("GET", "/open/v1/products", None, b"")
    assert client.http.get("/open/v1/products", headers=headers).status_code == 200
    second = world.client(world.live)  # another client: the nonce lives in the database
    r = second.http.get("/open/v1/products", headers=headers)
    assert r.status_code == 401 and code_of(r) == "nonce_reused"


def test_nonces_expire_with_their_window_and_are_purged(world: World):
    client = world.client(world.live)
    client.get("/open/v1/products")
    engine, clock = world.platform.engine, world.platform.clock
    assert run_in_transaction(engine, lambda c: auth.purge_nonces(c, clock=clock)) == 0
    clock.advance(timedelta(seconds=302))
    assert run_in_transaction(engine, lambda c: auth.purge_nonces(c, clock=clock)) == 1
    with engine.connect() as c:
        assert c.execute(select(nonces)).first() is None


def test_a_key_without_the_scope_is_refused(world: World):
    reader = world.partner("reader", scopes=["products:read"])
    client = world.client(reader)
    assert client.request("GET", "/open/v1/products").status_code == 200
    r = client.request("GET", "/open/v1/applications/1")
    assert r.status_code == 403 and code_of(r) == "scope_required"
    r = client.request("GET", "/open/v1/webhooks/subscriptions")
    assert r.status_code == 403 and code_of(r) == "scope_required"


def test_an_unknown_key_is_refused(world: World):
    ghost = partners.Credentials(world.live.partner, "pk_live_nobody", world.live.secret)
    r = world.client(ghost).request("GET", "/open/v1/products")
    assert r.status_code == 401 and code_of(r) == "key_unknown"


def test_a_disabled_partner_is_refused(world: World):
    engine, clock = world.platform.engine, world.platform.clock
    run_in_transaction(
        engine,
        lambda c: partners.disable(c, partner_id=world.live.partner.id, actor=ACTOR, clock=clock),
    )
    r = world.client(world.live).request("GET", "/open/v1/products")
    assert r.status_code == 403 and code_of(r) == "partner_disabled"


def test_an_address_outside_the_allow_list_is_refused(world: World):
    r = world.client(world.live, ip="192.168.1.9").request("GET", "/open/v1/products")
    assert r.status_code == 403 and code_of(r) == "ip_not_allowed"
    v6 = world.partner("v6", ip_allowlist=["2001:db8::/32"])
    assert world.client(v6, ip="2001:db8::5").request("GET", "/open/v1/products").status_code == 200


def test_the_rate_limit_is_per_partner_and_per_minute(world: World):
    slow = world.partner("slow", rate_limit_per_minute=3)
    client = world.client(slow)
    assert [client.request("GET", "/open/v1/products").status_code for _ in range(3)] == [200] * 3
    r = client.request("GET", "/open/v1/products")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert world.client(world.live).request("GET", "/open/v1/products").status_code == 200
    world.platform.clock.advance(timedelta(minutes=1))
    assert client.request("GET", "/open/v1/products").status_code == 200


def test_a_rotated_key_works_through_its_grace_period_only(world: World):
    engine, clock, keys = world.platform.engine, world.platform.clock, world.platform.keys
    new = run_in_transaction(
        engine,
        lambda c: partners.rotate_secret(
            c,
            keys=keys,
            partner_id=world.live.partner.id,
            actor=ACTOR,
            clock=clock,
            grace=timedelta(hours=1),
        ),
    )
    assert new.key_id != world.live.key_id
    assert world.client(world.live).request("GET", "/open/v1/products").status_code == 200
    assert world.client(new).request("GET", "/open/v1/products").status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))
    r = world.client(world.live).request("GET", "/open/v1/products")
    assert r.status_code == 401 and code_of(r) == "key_unknown"
    assert world.client(new).request("GET", "/open/v1/products").status_code == 200


def test_the_secret_is_stored_sealed(world: World):
    with world.platform.engine.connect() as c:
        row = c.execute(select(partner_keys)).first()
    assert row.secret_ct.startswith("v1:") and world.live.secret not in row.secret_ct
    assert world.live.secret not in repr(world.live)


def test_bad_partner_definitions_are_refused(world: World):
    from puhui.core.errors import ValidationError

    from .conftest import make_partner

    with pytest.raises(ValidationError, match=r"0\.0\.0\.0/0"):
        make_partner(world.platform, "noip", ip_allowlist=[])
    with pytest.raises(ValidationError, match="scopes are"):
        make_partner(world.platform, "badscope", scopes=["everything"])
    with pytest.raises(ValidationError, match="not an IP network"):
        make_partner(world.platform, "badnet", ip_allowlist=["10.0.0.300/8"])


def test_the_webhook_signature_round_trips():
    body = b'{"a":1}'
    header = signing.sign_webhook("sk_x", timestamp=1_000, body=body)
    ok = {signing.SIGNATURE: header}
    assert signing.verify_webhook("sk_x", headers=ok, body=body, now=1_010)
    assert not signing.verify_webhook("sk_y", headers=ok, body=body, now=1_010)
    assert not signing.verify_webhook("sk_x", headers=ok, body=b'{"a":2}', now=1_010)
    assert not signing.verify_webhook("sk_x", headers=ok, body=body, now=1_400)
