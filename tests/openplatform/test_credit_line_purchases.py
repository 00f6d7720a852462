"""A partner charges a purchase to a consenting customer's credit line: once per order
reference, within the limit, never for a sandbox partner, a partner without the scope or a
customer without consent."""

from __future__ import annotations

from sqlalchemy import func, select

from identity.conftest import ALICE
from puhui.db.engine import run_in_transaction
from puhui.identity import consents
from puhui.identity.audit import Actor
from puhui.lending import accounts, calendar
from puhui.lending.credit_line import books, service
from puhui.lending.credit_line.models import entries
from puhui.lending.credit_line.rules import DEFAULT_TERMS

from .conftest import World

PATH = "/open/v1/credit-line/purchases"


def code_of(response) -> str:  # type: ignore[no-untyped-def]
    return response.json()["error"]["code"]


def body(ref: str = "order-1", amount: int = 30_000) -> dict[str, object]:
    return {"external_ref": ref, "customer_phone": ALICE.phone, "amount_fen": amount}


def granted(world: World) -> int:
    clock = world.platform.clock

    def work(c) -> int:  # type: ignore[no-untyped-def]
        calendar.set_date(c, business_date_=clock.now().date(), clock=clock)
        accounts.inject_capital(c, amount=10_000_000, transfer_id="capital:op", clock=clock)
        return service.grant(
            c,
            customer_id=world.customer_id,
            grade="B",
            annual_income_fen=30_000_000,
            limit_fen=100_000,
            actor=Actor("staff:1"),
            clock=clock,
            terms=DEFAULT_TERMS,
        ).id

    return run_in_transaction(world.platform.engine, work)


def purchases(world: World) -> int:
    with world.platform.engine.connect() as c:
        return c.execute(
            select(func.count()).select_from(entries).where(entries.c.kind == "purchase")
        ).scalar_one()


def test_a_partner_charges_a_purchase_once_per_order(world: World):
    line_id = granted(world)
    client = world.client(world.live)
    made = client.post(PATH, body())
    assert (made["amount_fen"], made["available_fen"]) == (30_000, 70_000)
    replay = client.request("POST", PATH, body=body(), idempotency_key="k-1")
    again = client.request("POST", PATH, body=body(), idempotency_key="k-1")
    assert replay.status_code == again.status_code == 201 and again.json() == replay.json()
    # a new key for the same order: the same purchase, nothing charged twice
    assert replay.json()["purchase_id"] == made["purchase_id"]
    assert purchases(world) == 1
    over = client.request("POST", PATH, body=body("order-2", 70_001))
    assert over.status_code == 409 and code_of(over) == "limit_exceeded"
    with world.platform.engine.connect() as c:
        row = c.execute(select(entries).where(entries.c.id == made["purchase_id"])).one()
        assert (row.merchant, row.line_id, row.reference) == ("acme", line_id, "acme:order-1")
        assert books.check_subledger(c) == {}


def test_scope_consent_and_sandbox_are_enforced(world: World):
    granted(world)
    no_scope = world.client(world.partner("plain", scopes=["products:read"]))
    r = no_scope.request("POST", PATH, body=body())
    assert r.status_code == 403 and code_of(r) == "scope_required"
    sandbox = world.client(world.partner("sbx", mode="sandbox"))
    r = sandbox.request("POST", PATH, body=body())
    assert r.status_code == 403 and code_of(r) == "sandbox_partner"
    engine, clock = world.platform.engine, world.platform.clock

    def withdraw(c) -> None:  # type: ignore[no-untyped-def]
        for k in consents.list_for(c, customer_id=world.customer_id):
            if k.purpose == "credit_assessment":
                consents.withdraw(c, customer_id=world.customer_id, consent_id=k.id, clock=clock)

    run_in_transaction(engine, withdraw)
    r = world.client(world.live).request("POST", PATH, body=body())
    assert r.status_code == 403 and code_of(r) == "consent_required"
    assert purchases(world) == 0
