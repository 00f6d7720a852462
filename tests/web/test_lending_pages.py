"""The lending pages through the TestClient: a borrower applies, sees the decision and the offer
(the IRR annual rate first and largest), signs, and repays after a quote, once per form; staff
review with maker-checker, disburse, read loans, work collections (the guards' refusals beside
the field) and run the end of day. Each page shows exact amounts; forms refuse bad input beside
the field; a post without its CSRF token and a role without the permission are refused."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from lending import factories
from lending.applicants import product
from lending.test_http_applications import in_manual_review
from puhui.db.engine import run_in_transaction
from puhui.identity import customers
from puhui.identity.models import audit_log
from puhui.identity.models import customers as customers_table
from puhui.lending import accounts, applications, calendar, debit_channel, servicing, views
from puhui.lending.eod_models import debit_sandbox_accounts
from puhui.lending.models import loan_transactions, loans
from puhui.web import i18n

from .conftest import ACTOR, ALICE, Site, csrf_of

IRR_LABEL = "年化利率（按内部收益率法/复利计算）"
CSS = Path(i18n.__file__).parent / "static" / "app.css"
APPLY = {"product": "XFD", "amount": "12000", "term": "12", "purpose": "consumer_goods"}
RATE = re.compile(r'<(\w+)(?: class="([^"]*)")? data-rate="(\w+)"')


def irr_leads(html: str) -> None:
    """RATE-APR-02/03 on a rendered page: the IRR rate, labelled, is the first rate shown and
    every other rate follows one; it alone is set in the lead (largest, bold) style; there is
    no daily or monthly rate at all."""
    found = RATE.findall(html)
    assert found and found[0][2] == "irr", found
    for tag, cls, kind in found:
        if kind == "irr":
            assert "rate-lead" in cls or tag == "strong"
        else:
            assert "rate-lead" not in cls and tag != "strong"
    assert "日利率" not in html and "月利率" not in html
    assert "daily rate" not in html.lower() and "monthly rate" not in html.lower()


def test_the_lead_rate_style_is_the_largest():
    css = CSS.read_text()
    lead = re.search(r"\.rate-lead \{[^}]*font-size: ([\d.]+)rem", css)
    other = re.search(r"\.rate \{[^}]*font-size: ([\d.]+)rem", css)
    assert lead and other and float(lead.group(1)) > float(other.group(1))


# ---------------------------------------------------------------------------- helpers


def borrower(site: Site) -> int:
    """Alice, registered and verified through the pages, with the income the rules read, and
    the product she applies for."""
    site.onboard(ALICE)
    with site.engine.connect() as c:
        cid = c.execute(select(func.max(customers_table.c.id))).scalar_one()
    run_in_transaction(
        site.engine,
        lambda c: customers.update_profile(
            c,
            keys=site.keys,
            customer_id=cid,
            changes={"annual_income_fen": 60_000_000, "occupation": "engineer"},
            actor=ACTOR,
            clock=site.clock,
        ),
    )
    run_in_transaction(site.engine, lambda c: product(c, site.clock))
    return int(cid)


def applied(site: Site) -> int:
    r = site.submit("/m/borrow", "/m/borrow", APPLY)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[-1])


def signed(site: Site) -> tuple[int, int]:
    app_id = applied(site)
    page = f"/m/applications/{app_id}"
    r = site.submit(page, page + "/accept", {"agree": "1"})
    assert r.status_code == 303, r.text
    with site.engine.connect() as c:
        loan_id = applications.get_application(c, application_id=app_id).loan_id
    assert loan_id
    return app_id, loan_id


def paid_out(site: Site, loan_id: int) -> None:
    """The company funded and the loan disbursed (through the domain, as a clerk would)."""
    run_in_transaction(
        site.engine,
        lambda c: accounts.inject_capital(
            c, amount=100_000_000, transfer_id="capital:web", clock=site.clock
        ),
    )
    run_in_transaction(
        site.engine,
        lambda c: servicing.disburse(c, loan_id=loan_id, actor=ACTOR, clock=site.clock),
    )


def on(site: Site, day: date) -> None:
    run_in_transaction(
        site.engine, lambda c: calendar.set_date(c, business_date_=day, clock=site.clock)
    )


def card(site: Site, cid: int) -> int:
    with site.engine.connect() as c:
        return c.execute(
            select(debit_sandbox_accounts.c.balance_fen).where(
                debit_sandbox_accounts.c.customer_id == cid
            )
        ).scalar_one()


def staff(site: Site, username: str, position: str) -> Any:
    new = site.new_staff(username, position=position)
    assert site.staff_login(new).status_code == 303
    return new.member


def yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def beside(html: str, field: str) -> str:
    """The error text shown next to ``field`` (the macros' ``<field>-error`` paragraph)."""
    found = re.search(rf'id="{field}-error"[^>]*>([^<]+)<', html)
    assert found, f"no error beside {field}"
    return found.group(1)


# --------------------------------------------------------------------------- borrower


def test_apply_shows_the_decision_and_the_offer_with_the_irr_rate_leading(site):
    borrower(site)
    form = site.get("/m/borrow")
    assert form.status_code == 200 and 'name="amount"' in form.text
    app_id = applied(site)
    r = site.get(f"/m/applications/{app_id}")
    assert r.status_code == 200
    html = r.text
    assert 'data-testid="application-state">已发出要约<' in html
    assert IRR_LABEL in html and 'data-testid="offer"' in html
    irr_leads(html)
    assert re.search(r'data-rate="irr">18\.\d\d%<', html)
    assert 'data-rate="annual">18.00%<' in html
    # exact amounts: 12,000 yuan over 12 months at 18%; the first installment is 1,100.16
    assert "¥12,000.00" in html
    assert re.search(r'<tr data-seq="1">.*?¥1,100\.16</td></tr>', html)
    with site.engine.connect() as c:
        offer = applications.get_application(c, application_id=app_id).offer
    assert offer is not None
    assert f'data-testid="total-repayment">{yuan(offer.total_repayment_fen)}<' in html
    listed = site.get("/m/borrow").text
    assert f'data-application="{app_id}"' in listed
    site.client.cookies.set(i18n.COOKIE, "en")
    english = site.get(f"/m/applications/{app_id}").text
    assert "Annual rate (IRR, compounded)" in english
    irr_leads(english)


def test_a_rejection_shows_its_reasons(site):
    borrower(site)
    r = site.submit("/m/borrow", "/m/borrow", APPLY | {"amount": "290000", "term": "3"})
    assert r.status_code == 303
    html = site.get(r.headers["location"]).text
    assert 'data-testid="application-state">已拒绝<' in html
    assert re.search(r'data-testid="reasons"><li><span class="tag">[\w.-]+</span> \S', html)
    assert 'data-testid="offer"' not in html


def test_bad_applications_are_refused_beside_the_field(site):
    borrower(site)
    for data, field in (
        (APPLY | {"amount": "abc"}, "amount"),
        (APPLY | {"amount": ""}, "amount"),
        (APPLY | {"amount": "1"}, "amount"),
        (APPLY | {"term": "7"}, "term"),
        (APPLY | {"purpose": "gambling"}, "purpose"),
        (APPLY | {"product": "NOPE"}, "product"),
    ):
        r = site.submit("/m/borrow", "/m/borrow", data)
        assert r.status_code in (400, 422), (data, r.text)
        assert beside(r.text, field)
    with site.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(loans)).scalar_one() == 0
        listed = applications.list_applications(c, limit=10).items
    assert listed == ()


def test_sign_needs_consent_and_shows_the_contract_and_its_hash(site):
    borrower(site)
    app_id = applied(site)
    page = f"/m/applications/{app_id}"
    refused = site.submit(page, page + "/accept", {})
    assert refused.status_code in (400, 422) and beside(refused.text, "agree")
    r = site.submit(page, page + "/accept", {"agree": "1"})
    assert r.status_code == 303
    again = site.submit(page, page + "/accept", {"agree": "1"})
    assert again.status_code == 409 and beside(again.text, "action")
    with site.engine.connect() as c:
        loan = c.execute(select(loans)).one()
    html = site.get(page).text
    assert loan.contract_sha256 in html and f"/m/loans/{loan.id}" in html
    contract = site.get(f"/m/loans/{loan.id}/contract")
    assert contract.status_code == 200
    assert (
        loan.contract_sha256 in contract.text and 'data-testid="contract-intact"' in contract.text
    )
    assert "年化利率" in contract.text
    # within the cooling-off window the signed application can still be cancelled
    r = site.submit(page, page + "/cancel", {})
    assert r.status_code == 303
    with site.engine.connect() as c:
        assert c.execute(select(loans.c.state)).scalar_one() == "cancelled"


def test_decline_an_offer(site):
    borrower(site)
    app_id = applied(site)
    page = f"/m/applications/{app_id}"
    assert site.submit(page, page + "/decline", {}).status_code == 303
    assert 'data-testid="application-state">已拒绝要约<' in site.get(page).text


def test_schedule_repay_after_a_quote_once_per_form(site):
    cid = borrower(site)
    _app, loan_id = signed(site)
    paid_out(site, loan_id)
    r = site.get("/m/loans")
    assert r.status_code == 200 and f'data-loan="{loan_id}"' in r.text
    irr_leads(r.text)
    detail = site.get(f"/m/loans/{loan_id}").text
    irr_leads(detail)
    assert detail.count("<tr data-seq=") == 12
    assert re.search(r'<tr data-seq="1" class="status-upcoming">.*?¥1,100\.16', detail, re.S)
    assert 'data-testid="outstanding">¥12,000.00<' in detail

    on(site, date(2026, 12, 2))  # the first installment falls due
    run_in_transaction(
        site.engine, lambda c: debit_channel.fund(c, balances={cid: 500_000}, clock=site.clock)
    )
    page = f"/m/loans/{loan_id}"
    bad = site.submit(page, page + "/pay/quote", {"mode": "repay", "amount": "-3"})
    assert bad.status_code in (400, 422) and beside(bad.text, "amount")
    bad = site.submit(page, page + "/pay/quote", {"mode": "sideways", "amount": "1"})
    assert bad.status_code in (400, 422) and beside(bad.text, "mode")
    quote = site.submit(page, page + "/pay/quote", {"mode": "repay", "amount": "1100.16"})
    assert quote.status_code == 200
    assert 'data-testid="confirm-amount">¥1,100.16<' in quote.text
    key = re.search(r'name="form_key" value="([0-9a-f]+)"', quote.text)
    assert key
    form = {
        "csrf_token": csrf_of(quote.text),
        "mode": "repay",
        "amount_fen": "110016",
        "form_key": key.group(1),
    }
    first = site.client.post(page + "/pay", data=form)
    assert first.status_code == 303 and "?paid=" in first.headers["location"]
    second = site.client.post(page + "/pay", data=form)  # a double submit
    assert second.headers["location"] == first.headers["location"]
    assert card(site, cid) == 500_000 - 110_016
    with site.engine.connect() as c:
        kinds = c.execute(select(loan_transactions.c.kind)).scalars().all()
    assert sorted(kinds) == ["disbursement", "repayment"]
    after = site.get(first.headers["location"]).text
    assert 'data-testid="paid"' in after
    assert re.search(r'<tr data-seq="1" class="status-paid">', after)

    full = site.submit(page, page + "/pay/quote", {"mode": "full", "amount": ""})
    assert full.status_code == 200
    with site.engine.connect() as c:
        q = servicing.quote(c, loan_id=loan_id, clock=site.clock)
    assert f'data-testid="confirm-amount">{yuan(q.total_fen)}<' in full.text


def test_a_declined_card_takes_nothing_and_says_so(site):
    borrower(site)
    _app, loan_id = signed(site)
    paid_out(site, loan_id)
    page = f"/m/loans/{loan_id}"
    quote = site.submit(page, page + "/pay/quote", {"mode": "repay", "amount": "100"})
    key = re.search(r'name="form_key" value="([0-9a-f]+)"', quote.text)
    assert key
    r = site.client.post(
        page + "/pay",
        data={
            "csrf_token": csrf_of(quote.text),
            "mode": "repay",
            "amount_fen": "10000",
            "form_key": key.group(1),
        },
    )
    assert r.status_code == 409 and beside(r.text, "amount")
    with site.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(loan_transactions)).scalar_one() == 1


def test_csrf_and_another_borrowers_loan(site):
    borrower(site)
    _app, loan_id = signed(site)
    r = site.client.post("/m/borrow", data=APPLY)
    assert r.status_code == 403
    r = site.client.post(f"/m/loans/{loan_id}/pay/quote", data={"mode": "full"})
    assert r.status_code == 403
    for path in (
        f"/m/loans/{loan_id + 1}",
        "/m/applications/999",
        f"/m/loans/{loan_id + 1}/contract",
    ):
        assert site.get(path).status_code == 404


# ------------------------------------------------------------------------ back office


def test_review_queue_and_maker_checker(site):
    cid = borrower(site)
    app_id = in_manual_review(site, cid, 6_000_000)
    staff(site, "ro.sun", "risk_officer")
    queue = site.get("/admin/loan-applications")
    assert queue.status_code == 200 and f'data-application="{app_id}"' in queue.text
    assert "¥60,000.00" in queue.text
    page = f"/admin/loan-applications/{app_id}"
    assert 'data-testid="approve"' not in site.get(page).text  # the officer is a maker only
    assert site.submit(page, page + "/approve", {"reason": "ok"}).status_code == 403
    maker = staff(site, "rm.wu", "risk_manager")
    early = site.submit(page, page + "/approve", {"reason": "looks fine"})
    assert early.status_code == 409 and "推荐" in beside(early.text, "recommendation")
    no_reason = site.submit(page, page + "/recommend", {"recommendation": "approve"})
    assert no_reason.status_code in (400, 422) and beside(no_reason.text, "reason")
    bad_rate = site.submit(
        page, page + "/recommend", {"recommendation": "approve", "reason": "x", "annual_rate": "x"}
    )
    assert bad_rate.status_code in (400, 422) and beside(bad_rate.text, "annual_rate")
    r = site.submit(
        page,
        page + "/recommend",
        {"recommendation": "approve", "reason": "stable income", "annual_rate": "0.12"},
    )
    assert r.status_code == 303
    same = site.submit(page, page + "/approve", {"reason": "agreed"})
    assert same.status_code == 409
    refusal = beside(same.text, "decision")
    assert "不同的人" in refusal or "different person" in refusal
    staff(site, "rm.he", "risk_manager")
    r = site.submit(page, page + "/approve", {"reason": "agreed"})
    assert r.status_code == 303
    html = site.get(page).text
    assert 'data-testid="application-state">已发出要约<' in html
    assert f"staff:{maker.id}" in html
    irr_leads(html)
    with site.engine.connect() as c:
        events = c.execute(
            select(audit_log.c.event_type).where(audit_log.c.object_id == str(app_id))
        ).scalars()
        assert "application.recommend" in set(events)


@pytest.fixture
def book(site: Site) -> factories.Book:
    """A funded company, a product and an accepted loan made by the lending factories."""
    return run_in_transaction(site.engine, lambda c: factories.setup(c, site.clock))


def test_disburse_and_the_loan_pages(site, book):
    staff(site, "ro.sun", "risk_officer")
    page = f"/admin/loans/{book.loan_id}"
    assert 'data-testid="disburse"' not in site.get(page).text
    assert site.submit(page, page + "/disburse", {}).status_code == 403
    staff(site, "fin.qian", "finance_specialist")
    r = site.submit(page, page + "/disburse", {})
    assert r.status_code == 303
    again = site.submit(page, page + "/disburse", {})
    assert again.status_code == 409  # paid out once
    html = site.get(page).text
    irr_leads(html)
    assert 'data-testid="outstanding">¥12,000.00<' in html
    assert html.count("<tr data-seq=") == 12 and "<tr data-txn=" in html
    listed = site.get("/admin/loans?state=disbursed")
    assert f'data-loan="{book.loan_id}"' in listed.text
    irr_leads(listed.text)
    assert f'data-loan="{book.loan_id}"' not in site.get("/admin/loans?state=settled").text
    dash = site.get("/admin/").text
    assert 'data-testid="kpi-loan-book"' in dash and "¥12,000.00" in dash
    assert 'aria-label="贷款余额：按逾期账龄的未还本金"' in dash
    assert "<title>未还本金（元） M0: 12000</title>" in dash
    with site.engine.connect() as c:
        audited = c.execute(
            select(func.count())
            .select_from(audit_log)
            .where(audit_log.c.event_type == "loan.disburse")
        ).scalar_one()
    assert audited == 1


def test_staff_record_a_payment_once_and_reverse_it(site, book):
    staff(site, "fin.qian", "finance_specialist")
    page = f"/admin/loans/{book.loan_id}"
    assert site.submit(page, page + "/disburse", {}).status_code == 303
    form = {"amount": "1000.00", "value_date": "", "external_ref": "BANK-001"}
    refused = site.submit(page, page + "/repayments", {**form, "amount": "10.001"})
    assert refused.status_code == 422
    assert 'id="amount-error"' in refused.text and 'value="10.001"' in refused.text
    assert site.submit(page, page + "/repayments", form).status_code == 303
    assert site.submit(page, page + "/repayments", form).status_code == 303  # same reference

    def payments() -> list[tuple[int, str, int, Any]]:
        with site.engine.connect() as c:
            rows = c.execute(
                select(
                    loan_transactions.c.id,
                    loan_transactions.c.kind,
                    loan_transactions.c.amount_fen,
                    loan_transactions.c.reversed_by_id,
                )
                .where(loan_transactions.c.loan_id == book.loan_id)
                .where(loan_transactions.c.kind == "repayment")
            )
            return [tuple(r) for r in rows]

    [(txn, _, amount, reversed_by)] = payments()
    assert amount == 100_000 and reversed_by is None
    reverse = f"{page}/transactions/{txn}/reverse"
    assert f'data-testid="reverse-{txn}"' in site.get(page).text
    blank = site.submit(page, reverse, {"reason": ""})
    assert blank.status_code == 422 and payments()[0][3] is None
    assert site.submit(page, reverse, {"reason": "paid to the wrong loan"}).status_code == 303
    assert payments()[0][3] is not None
    again = site.submit(page, reverse, {"reason": "paid to the wrong loan"})
    assert again.status_code == 409 and 'class="alert"' in again.text
    assert f'data-testid="reverse-{txn}"' not in site.get(page).text
    staff(site, "ro.zhao", "risk_officer")
    html = site.get(page).text
    assert 'data-testid="repayment-form"' not in html
    assert site.submit(page, page + "/repayments", {**form, "external_ref": "X"}).status_code == 403


def overdue(site: Site, book: factories.Book) -> None:
    """The loan paid out and its first installment 18 days late."""
    run_in_transaction(
        site.engine,
        lambda c: servicing.disburse(c, loan_id=book.loan_id, actor=ACTOR, clock=site.clock),
    )
    on(site, date(2026, 12, 20))
    run_in_transaction(
        site.engine,
        lambda c: c.execute(
            update(loans).where(loans.c.id == book.loan_id).values(dpd=18, bucket="M1")
        ),
    )


def test_collections_queue_assignment_and_contact_guards(site, book):
    overdue(site, book)
    collector = site.new_staff("col.li", position="collector")
    staff(site, "rm.wu", "risk_manager")
    queue = site.get("/admin/collections?bucket=M1&show=unassigned")
    assert queue.status_code == 200 and f'data-loan="{book.loan_id}"' in queue.text
    with site.engine.connect() as c:
        first = views.schedule(c, loan_id=book.loan_id, clock=site.clock)[0]
    assert first.status == "overdue"
    assert f'<td class="amount">{yuan(first.unpaid_fen)}</td>' in queue.text
    assert f'data-loan="{book.loan_id}"' not in site.get("/admin/collections?bucket=M2").text
    case = f"/admin/collections/{book.loan_id}"
    bad = site.submit(case, case + "/assign", {"collector_id": "999999"})
    assert bad.status_code == 422 and beside(bad.text, "collector_id")
    r = site.submit(case, case + "/assign", {"collector_id": str(collector.member.id)})
    assert r.status_code == 303
    assert site.submit(case, case + "/contacts", {"channel": "phone"}).status_code == 403

    assert site.staff_login(collector).status_code == 303
    mine = site.get("/admin/collections")
    assert f'data-loan="{book.loan_id}"' in mine.text
    assert site.submit(case, case + "/assign", {"collector_id": "1"}).status_code == 403
    third = site.submit(
        case, case + "/contacts", {"channel": "phone", "party": "spouse", "result": "no_answer"}
    )
    assert third.status_code == 422 and "第三方" in beside(third.text, "party")
    past = site.submit(
        case,
        case + "/contacts",
        {
            "channel": "phone",
            "result": "promise_to_pay",
            "promise_date": "2026-01-01",
            "promise": "500",
        },
    )
    assert past.status_code == 422 and beside(past.text, "promise_date")
    for _ in range(3):
        ok = site.submit(case, case + "/contacts", {"channel": "phone", "result": "no_answer"})
        assert ok.status_code == 303
    limit = site.submit(case, case + "/contacts", {"channel": "sms", "result": "no_answer"})
    assert limit.status_code == 409 and beside(limit.text, "contact")
    site.clock.advance(timedelta(hours=13))  # 23:00 in Shanghai: quiet hours
    assert site.staff_login(collector).status_code == 303  # the idle session has expired
    quiet = site.submit(case, case + "/contacts", {"channel": "phone", "result": "no_answer"})
    assert quiet.status_code == 409 and "22:00" in beside(quiet.text, "contact")
    log = site.get(case).text
    assert log.count("no_answer</td>") == 3


def test_end_of_day_runs_and_their_steps(site, book):
    run_in_transaction(
        site.engine,
        lambda c: servicing.disburse(c, loan_id=book.loan_id, actor=ACTOR, clock=site.clock),
    )
    staff(site, "ro.sun", "risk_officer")
    assert site.get("/admin/eod").status_code == 403
    staff(site, "fin.qian", "finance_specialist")
    bad = site.submit("/admin/eod", "/admin/eod", {"business_date": "yesterday"})
    assert bad.status_code in (400, 422) and beside(bad.text, "business_date")
    r = site.submit("/admin/eod", "/admin/eod", {"business_date": ""})
    assert r.status_code == 303 and r.headers["location"] == "/admin/eod/2026-11-02"
    day = site.get(r.headers["location"]).text
    assert 'data-testid="eod-state">已日终<' in day
    assert all(f'<tr data-step="{s}">' in day for s in ("expire", "accrue", "age", "snapshot"))
    accrued = re.search(
        r'<tr data-step="accrue"><td>0</td><td class="mono">accrue</td><td>1</td>'
        r'<td class="amount">¥([\d.,]+)</td>',
        day,
    )
    assert accrued and accrued.group(1) == "0.00"  # nothing accrues on the start date
    runs = site.get("/admin/eod").text
    assert 'data-date="2026-11-02"' in runs and 'data-testid="business-date">2026-11-03<' in runs
    assert site.get("/admin/eod/2020-01-01").status_code == 404
    with site.engine.connect() as c:
        audited = c.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.event_type == "eod.run")
        ).scalar_one()
    assert audited == 1


def test_staff_nav_shows_only_permitted_lending_pages(site):
    staff(site, "col.li", "collector")
    html = site.get("/admin/").text
    assert 'href="/admin/collections"' in html and 'href="/admin/loans"' in html
    assert 'href="/admin/loan-applications"' not in html and 'href="/admin/eod"' not in html
    assert site.get("/admin/loan-applications").status_code == 403
    r = site.client.post("/admin/eod", data={})
    assert r.status_code == 403
