"""The credit-line pages through the TestClient: a customer sees the line, buys (once per form),
sees the refund, repays after a quote (once per form), converts a purchase and a statement into
instalments with the IRR annual rate first, settles a plan early and reads the statement; staff
grant, adjust, raise, freeze, unfreeze and close with the permission the API asks for. Every
page shows exact amounts; refusals are shown beside the field."""

from __future__ import annotations

import json
import re
from datetime import date

from sqlalchemy import func, select

from credit.samples import STRONG, WEAK
from credit_line.test_http import earns
from puhui.credit.bureau import SandboxBureau
from puhui.credit.scoring import default_model
from puhui.db.engine import run_in_transaction
from puhui.identity.models import audit_log
from puhui.identity.models import customers as customers_table
from puhui.lending import accounts, calendar, debit_channel, jobs
from puhui.lending.applications import CreditServices
from puhui.lending.credit_line import draws, instalments, service, views
from puhui.lending.credit_line.models import entries, plans
from puhui.lending.credit_line.models import lines as lines_table
from puhui.lending.eod_models import debit_sandbox_accounts
from puhui.web import i18n

from .conftest import ACTOR, ALICE, BOB, Site, csrf_of
from .test_lending_pages import IRR_LABEL, beside, irr_leads, staff, yuan

LINE = "/m/credit-line"


def customer(site: Site, person=ALICE) -> int:  # type: ignore[no-untyped-def]
    site.onboard(person)
    with site.engine.connect() as c:
        return int(c.execute(select(func.max(customers_table.c.id))).scalar_one())


def funded(site: Site) -> None:
    run_in_transaction(
        site.engine,
        lambda c: calendar.set_date(c, business_date_=date(2026, 11, 2), clock=site.clock),
    )
    run_in_transaction(
        site.engine,
        lambda c: accounts.inject_capital(
            c, amount=100_000_000, transfer_id="capital:web-cl", clock=site.clock
        ),
    )


def granted(site: Site, cid: int, limit_fen: int = 1_000_000) -> int:
    funded(site)
    line = run_in_transaction(
        site.engine,
        lambda c: service.grant(
            c,
            customer_id=cid,
            grade="A",
            annual_income_fen=30_000_000,
            limit_fen=limit_fen,
            actor=ACTOR,
            clock=site.clock,
        ),
    )
    return line.id


def card(site: Site, cid: int, fen: int | None = None) -> int:
    if fen is not None:
        run_in_transaction(
            site.engine, lambda c: debit_channel.fund(c, balances={cid: fen}, clock=site.clock)
        )
    with site.engine.connect() as c:
        return c.execute(
            select(debit_sandbox_accounts.c.balance_fen).where(
                debit_sandbox_accounts.c.customer_id == cid
            )
        ).scalar_one()


def shown(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">(?:<strong>)?([^<]+)<', html)
    assert found, f"no {testid} on the page"
    return found.group(1)


def buy(site: Site, amount: str) -> int:
    r = site.submit(LINE, f"{LINE}/purchases", {"spend": amount, "form_key": amount + "k"})
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("=", 1)[-1])


def form_key(html: str, name: str = "form_key") -> str:
    found = re.search(rf'name="{name}" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


def count(site: Site, kind: str) -> int:
    with site.engine.connect() as c:
        return c.execute(
            select(func.count()).select_from(entries).where(entries.c.kind == kind)
        ).scalar_one()


# ------------------------------------------------------------------------------ customer


def test_my_line_buy_once_refund_and_repay_once_after_a_quote(site):
    cid = customer(site)
    assert 'data-testid="no-line"' in site.get(LINE).text
    line_id = granted(site, cid)
    html = site.get(LINE).text
    assert shown(html, "available") == "¥10,000.00" and shown(html, "limit") == "¥10,000.00"
    assert shown(html, "owed") == "¥0.00" and shown(html, "line-state") == "正常"
    assert IRR_LABEL in html
    irr_leads(html)
    assert 'data-rate="irr">14.60%<' in html

    page = site.get(LINE).text
    form = {"csrf_token": csrf_of(page), "spend": "1234.56", "form_key": form_key(page)}
    first = site.client.post(f"{LINE}/purchases", data=form)
    assert first.status_code == 303 and "?bought=" in first.headers["location"]
    again = site.client.post(f"{LINE}/purchases", data=form)  # a double submit
    assert again.headers["location"] == first.headers["location"]
    assert count(site, "purchase") == 1
    html = site.get(first.headers["location"]).text
    assert 'data-testid="bought"' in html
    assert shown(html, "available") == "¥8,765.44" and shown(html, "owed") == "¥1,234.56"
    entry_id = int(first.headers["location"].rsplit("=", 1)[-1])
    assert re.search(rf'<tr data-entry="{entry_id}">.*?¥1,234\.56', html, re.S)

    for amount, status in (("8765.45", 409), ("abc", 422), ("0", 422), ("", 422)):
        r = site.submit(LINE, f"{LINE}/purchases", {"spend": amount, "form_key": "x" + amount})
        assert r.status_code == status, (amount, r.text)
        assert beside(r.text, "spend") and 'id="amount-error"' not in r.text
    assert count(site, "purchase") == 1

    run_in_transaction(
        site.engine,
        lambda c: draws.refund(
            c,
            line_id=line_id,
            purchase_id=entry_id,
            amount_fen=23_456,
            actor=ACTOR,
            clock=site.clock,
        ),
    )
    html = site.get(LINE).text
    assert shown(html, "available") == "¥9,000.00" and shown(html, "owed") == "¥1,000.00"
    assert "−¥234.56" in html and "已退款 ¥234.56" in html

    card(site, cid, 200_000)
    too_much = site.submit(LINE, f"{LINE}/repay/quote", {"amount": "1000.01"})
    assert too_much.status_code == 422 and beside(too_much.text, "amount")
    quote = site.submit(LINE, f"{LINE}/repay/quote", {"amount": "400"})
    assert quote.status_code == 200
    assert shown(quote.text, "confirm-amount") == "¥400.00"
    assert re.search(
        r'data-testid="split">.*?本金</dt><dd class="amount">¥400\.00', quote.text, re.S
    )
    pay = {
        "csrf_token": csrf_of(quote.text),
        "amount_fen": "40000",
        "pay_key": form_key(quote.text, "pay_key"),
    }
    paid = site.client.post(f"{LINE}/repay", data=pay)
    assert paid.status_code == 303 and "?paid=" in paid.headers["location"]
    twice = site.client.post(f"{LINE}/repay", data=pay)
    assert twice.headers["location"] == paid.headers["location"]
    assert count(site, "payment") == 1 and card(site, cid) == 200_000 - 40_000
    html = site.get(paid.headers["location"]).text
    assert 'data-testid="paid"' in html
    assert shown(html, "available") == "¥9,400.00" and shown(html, "owed") == "¥600.00"

    card(site, cid, 0)
    quote = site.submit(LINE, f"{LINE}/repay/quote", {"amount": "600"})
    declined = site.client.post(
        f"{LINE}/repay",
        data={
            "csrf_token": csrf_of(quote.text),
            "amount_fen": "60000",
            "pay_key": form_key(quote.text, "pay_key"),
        },
    )
    assert declined.status_code == 409 and beside(declined.text, "amount")
    assert count(site, "payment") == 1
    assert shown(site.get(LINE).text, "owed") == "¥600.00"

    site.client.cookies.set(i18n.COOKIE, "en")
    english = site.get(LINE).text
    assert "Annual rate (IRR, compounded)" in english and "Available limit" in english
    irr_leads(english)


def test_instalments_statement_and_early_settlement(site):
    cid = customer(site)
    line_id = granted(site, cid)
    pid = buy(site, "1200")
    page = f"{LINE}/purchases/{pid}/instalments"
    choices = site.get(page)
    assert choices.status_code == 200 and choices.text.count('name="periods" value=') == 4
    html = site.get(page + "?periods=3").text
    irr_leads(html)
    assert IRR_LABEL in html
    assert re.search(r'data-rate="irr">10\.7\d%<', html)
    assert shown(html, "principal") == "¥1,200.00" and shown(html, "fee") == "¥7.20"
    assert shown(html, "total-fee") == "¥21.60"
    assert html.count('<td class="amount">¥407.20</td>') == 3
    bad = site.submit(page + "?periods=3", page, {"periods": "4"})
    assert bad.status_code == 422 and beside(bad.text, "periods")
    r = site.submit(page + "?periods=3", page, {"periods": "3"})
    assert r.status_code == 303 and "?plan=" in r.headers["location"]
    again = site.submit(LINE, page, {"periods": "3"})  # the same purchase twice
    assert again.status_code == 409 and beside(again.text, "periods")
    with site.engine.connect() as c:
        [plan] = instalments.list_plans(c, line_id=line_id)
        assert c.execute(select(func.count()).select_from(plans)).scalar_one() == 1
    html = site.get(r.headers["location"]).text
    assert 'data-testid="converted"' in html
    assert shown(html, "in-instalments") == "¥1,200.00" and shown(html, "available") == "¥8,800.00"
    assert f'data-plan="{plan.id}"' in html
    irr_leads(html)

    buy(site, "500")
    jobs.run_eod(site.engine, clock=site.clock, through=date(2026, 12, 1))
    listed = site.get(f"{LINE}/statements").text
    with site.engine.connect() as c:
        [stmt] = views.statements_of(c, line_id=line_id)
        full = views.statement(c, line_id=line_id, statement_id=stmt.id)
    assert full is not None and stmt.closing_fen == 40_000 + 720 + 50_000
    assert f'data-statement="{stmt.id}"' in listed and "¥907.20" in listed
    detail = site.get(f"{LINE}/statements/{stmt.id}").text
    assert shown(detail, "closing") == "¥907.20"
    assert shown(detail, "minimum") == yuan(stmt.minimum_fen)
    assert shown(detail, "due") == "2026-12-10"
    kinds = re.findall(r'<tr data-entry="\d+" data-kind="(\w+)">', detail)
    assert kinds == [e.kind for e in full.entries] and {"purchase", "fee"} <= set(kinds)
    assert "¥500.00" in detail and "¥7.20" in detail
    assert re.search(r'data-kind="fee"><td class="when">[\d-]+</td><td>费用<', detail)
    purchase = r'data-kind="purchase"><td class="when">[\d-]+</td><td>消费 <span[^>]*>sandbox<'
    assert re.search(purchase, detail)
    html = site.get(LINE).text
    assert shown(html, "stmt-remaining") == "¥907.20" and shown(html, "due-date") == "2026-12-10"
    assert site.get(f"{LINE}/statements/{stmt.id + 1}").status_code == 404

    statement = f"{LINE}/statement-instalments"
    with site.engine.begin() as c:
        q = instalments.quote_statement(c, line_id=line_id, periods=6, clock=site.clock)
    html = site.get(statement + "?periods=6").text
    irr_leads(html)
    assert shown(html, "principal") == yuan(q.principal_fen)
    assert shown(html, "fee") == yuan(q.fee_per_period_fen)

    card(site, cid, 100_000)
    settle = f"{LINE}/plans/{plan.id}/settle"
    with site.engine.connect() as c:
        left = c.execute(
            select(plans.c.principal_fen - plans.c.principal_billed_fen).where(
                plans.c.id == plan.id
            )
        ).scalar_one()
    assert shown(site.get(LINE).text, f"settle-quote-{plan.id}") == yuan(left)
    r = site.submit(LINE, settle, {})
    assert r.status_code == 303
    assert card(site, cid) == 100_000 - left
    twice = site.submit(LINE, settle, {})
    assert twice.status_code == 409 and beside(twice.text, f"plan-{plan.id}")
    assert card(site, cid) == 100_000 - left
    with site.engine.connect() as c:
        assert c.execute(select(plans.c.state)).scalar_one() == "early_settled"


def test_another_customers_line_and_csrf(site):
    cid = customer(site)
    granted(site, cid)
    pid = buy(site, "100")
    assert site.client.post(f"{LINE}/purchases", data={"spend": "1"}).status_code == 403
    site.client.cookies.clear()
    customer(site, BOB)  # signed in as Bob, who has no line
    assert 'data-testid="no-line"' in site.get(LINE).text
    assert site.get(f"{LINE}/purchases/{pid}/instalments").status_code == 404
    assert site.get(f"{LINE}/statements").status_code == 404
    r = site.submit("/m/", f"{LINE}/purchases/{pid}/instalments", {"periods": "3"})
    assert r.status_code == 404
    assert count(site, "instalment") == 0


# --------------------------------------------------------------------------- back office


def test_staff_grant_adjust_raise_freeze_and_close(site):
    cid = customer(site)
    funded(site)
    site.client.cookies.clear()
    staff(site, "ro.sun", "risk_officer")  # no credit-line permission
    assert site.get("/admin/credit-lines").status_code == 403
    assert 'href="/admin/credit-lines"' not in site.get("/admin/").text
    staff(site, "rm.wu", "risk_manager")
    site.app.state.lending_credit = CreditServices(default_model(), SandboxBureau(), b"k" * 32)
    earns(site, cid, 30_000_000)
    lines = "/admin/credit-lines"
    grant = {"customer_id": str(cid), "features": json.dumps(STRONG), "limit": "10000"}
    for data, field in (
        (grant | {"features": "not json"}, "features"),
        (grant | {"features": "[1, 2]"}, "features"),
        (grant | {"customer_id": "999999"}, "customer_id"),
        (grant | {"limit": "0"}, "limit"),
        (grant | {"limit": "10.001"}, "limit"),
    ):
        r = site.submit(lines, lines, data)
        assert r.status_code in (404, 409, 422), (data, r.text)
        assert beside(r.text, field)
    weak = site.submit(lines, lines, grant | {"features": json.dumps(WEAK)})
    assert weak.status_code == 200 and 'data-testid="declined"' in weak.text
    greedy = site.submit(lines, lines, grant | {"limit": "500000"})  # past every cap
    assert greedy.status_code != 303
    with site.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(lines_table)).scalar_one() == 0
    r = site.submit(lines, lines, grant)
    assert r.status_code == 303
    page = r.headers["location"]
    line_id = int(page.rsplit("/", 1)[-1])
    assert site.submit(lines, lines, grant).status_code == 409  # one line per customer
    html = site.get(page).text
    assert shown(html, "limit") == "¥10,000.00" and shown(html, "available") == "¥10,000.00"
    irr_leads(html)
    assert f'data-line="{line_id}"' in site.get(lines).text
    assert f'data-line="{line_id}"' not in site.get(lines + "?state=frozen").text

    run_in_transaction(
        site.engine,
        lambda c: draws.purchase(
            c, line_id=line_id, amount_fen=300_000, merchant="m", actor=ACTOR, clock=site.clock
        ),
    )
    low = site.submit(page, page + "/limit", {"limit": "2999.99"})
    assert low.status_code == 409 and "欠款" in beside(low.text, "limit")
    assert site.submit(page, page + "/limit", {"limit": "3000"}).status_code == 303
    assert shown(site.get(page).text, "available") == "¥0.00"
    past = site.submit(page, page + "/temporary-raise", {"extra": "500", "until": "2026-11-01"})
    assert past.status_code == 422 and beside(past.text, "until")
    junk = site.submit(page, page + "/temporary-raise", {"extra": "500", "until": "soon"})
    assert junk.status_code == 422 and beside(junk.text, "until")
    r = site.submit(page, page + "/temporary-raise", {"extra": "500", "until": "2026-11-30"})
    assert r.status_code == 303
    html = site.get(page).text
    assert shown(html, "effective-limit") == "¥3,500.00" and shown(html, "available") == "¥500.00"

    assert site.submit(page, page + "/freeze", {}).status_code == 303
    assert shown(site.get(page).text, "line-state") == "已冻结"
    assert f'data-line="{line_id}"' in site.get(lines + "?state=frozen").text
    twice = site.submit(page, page + "/freeze", {})
    assert twice.status_code == 409 and beside(twice.text, "state")
    assert site.submit(page, page + "/unfreeze", {}).status_code == 303
    owes = site.submit(page, page + "/close", {})
    assert owes.status_code == 409 and beside(owes.text, "state")
    with site.engine.connect() as c:
        line = service.get(c, line_id=line_id, clock=site.clock)
        events = set(
            c.execute(
                select(audit_log.c.event_type).where(audit_log.c.object_id == str(line_id))
            ).scalars()
        )
    assert (line.state, line.limit_fen, line.temp_limit_fen) == ("active", 300_000, 50_000)
    assert {"credit_line.grant", "credit_line.adjust", "credit_line.freeze"} <= events

    staff(site, "col.li", "collector")  # reads lines, changes none
    html = site.get(page).text
    assert 'data-testid="limit-form"' not in html and 'data-testid="freeze"' not in html
    assert 'data-testid="grant-form"' not in site.get(lines).text
    assert site.submit(page, page + "/freeze", {}).status_code == 403
    assert site.submit(lines, lines, grant).status_code == 403
    with site.engine.connect() as c:
        assert service.get(c, line_id=line_id, clock=site.clock).state == "active"
