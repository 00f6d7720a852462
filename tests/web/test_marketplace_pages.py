"""The marketplace pages through the TestClient: a lender filters the listings, reads a
listing's disclosure, confirms the risk notice and bids (once per form, the amount frozen to
the fen), cancels a frozen bid, fills a listing and sees the note, the repayment calendar and
the returns, offers part of a note that another lender buys; every refusal (no confirmation,
off-step, over what remains, a grade the risk level does not allow, not enough money, a note
held too briefly, a bad auto-invest rate) shows beside its field and changes nothing, as does
a post without its CSRF token; staff publish, close and expire listings and read the risk
reserve, each only with the permission the API's twin asks for."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from marketplace.market import (
    DISCLOSURE,
    STAFF,
    approved_application,
    deposit,
    equip_lender,
    go_to,
    open_listing,
)
from marketplace.market import borrower as market_borrower
from puhui.api.money import user_ref
from puhui.custody import authorisations
from puhui.custody import service as custody
from puhui.db.engine import run_in_transaction
from puhui.identity.models import customers
from puhui.lending.models import installments
from puhui.marketplace import accounts, bids, distribution, listings, views
from puhui.marketplace.models import auto_invest, claim_offers, notes
from puhui.marketplace.models import bids as bids_table
from puhui.web import i18n

from .conftest import ALICE, BOB, Site, csrf_of
from .test_lending_pages import beside, staff, yuan

_KEY = re.compile(r'name="form_key" value="([^"]*)"')


def lender(site: Site, *, money: int, level: str = "C5") -> int:
    """Alice, registered and verified through the pages, with ``money`` fen in her lender
    sub-account, a risk assessment at ``level`` and the signed risk notice."""
    site.onboard(ALICE)
    with site.engine.connect() as c:
        cid = int(c.execute(select(func.max(customers.c.id))).scalar_one())
    run_in_transaction(
        site.engine, lambda c: equip_lender(c, site.clock, cid, money=money, level=level)
    )
    return cid


def listed(site: Site, **kw: Any) -> listings.Listing:
    return run_in_transaction(site.engine, lambda c: open_listing(c, site.clock, **kw))


def form_of(site: Site, page: str) -> dict[str, str]:
    html = site.get(page).text
    found = _KEY.search(html)
    assert found, "the page has no form key"
    return {"csrf_token": csrf_of(html), "form_key": found.group(1)}


def bid(site: Site, listing_id: int, amount: str, **extra: str) -> Any:
    page = f"/m/market/{listing_id}"
    data = {**form_of(site, page), "amount": amount, "agree": "1", "disclosure_version": "1"}
    return site.client.post(page + "/bid", data={**data, **extra})


def bid_count(site: Site) -> int:
    with site.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(bids_table)).scalar_one())


def test_listings_filter_by_grade_term_and_rate(site):
    lender(site, money=0)
    r1 = listed(site, risk_grade="R1", term=3)
    r2 = listed(site, risk_grade="R2", term=12)
    html = site.get("/m/market").text
    assert f'data-listing="{r1.id}"' in html and f'data-listing="{r2.id}"' in html
    only_r1 = site.get("/m/market?grade=R1").text
    assert f'data-listing="{r1.id}"' in only_r1 and f'data-listing="{r2.id}"' not in only_r1
    short = site.get("/m/market?max_term=6").text
    assert f'data-listing="{r1.id}"' in short and f'data-listing="{r2.id}"' not in short
    at_9 = site.get("/m/market?min_rate=9").text  # both lend at 9.00%
    assert f'data-listing="{r1.id}"' in at_9 and f'data-listing="{r2.id}"' in at_9
    assert 'data-listing="' not in site.get("/m/market?min_rate=9.5").text
    bad = site.get("/m/market?min_rate=abc")
    assert bad.status_code == 422
    assert beside(bad.text, "min_rate") == "请按百分比填写利率，例如 8.5。"


def test_a_lender_bids_once_per_form_fills_the_listing_and_sees_note_and_calendar(site):
    cid = lender(site, money=1_500_000)
    x = listed(site, amount_fen=1_000_000, term=6, min_bid_fen=10_000, step_fen=10_000)
    page = f"/m/market/{x.id}"
    html = site.get(page).text
    assert 'data-testid="disclosure"' in html
    for value in DISCLOSURE.values():
        assert value.replace(",", "&#44;") in html or value in html
    assert 'data-testid="remaining">¥10,000.00<' in html
    assert 'data-testid="min-bid">¥100.00<' in html and 'data-testid="step">¥100.00<' in html
    assert 'data-testid="available">¥15,000.00<' in html

    unconfirmed = bid(site, x.id, "4000", agree="")
    assert unconfirmed.status_code == 422
    assert beside(unconfirmed.text, "agree") == "请先阅读项目信息披露并确认风险提示。"
    off_step = bid(site, x.id, "4000.50")
    assert off_step.status_code == 422
    assert beside(off_step.text, "amount") == "请按起投金额加整数倍递增金额出借。"
    over = bid(site, x.id, "10100")
    assert over.status_code == 409
    assert beside(over.text, "amount") == "金额超过本项目剩余可投金额。"
    stale = bid(site, x.id, "4000", disclosure_version="2")
    assert stale.status_code == 409 and "信息披露已更新" in beside(stale.text, "agree")
    assert bid_count(site) == 0

    data = {**form_of(site, page), "amount": "4000", "agree": "1", "disclosure_version": "1"}
    first = site.client.post(page + "/bid", data=data)
    assert first.status_code == 303, first.text
    again = site.client.post(page + "/bid", data=data)  # a double submit of the same form
    assert again.status_code == 303 and again.headers["location"] == first.headers["location"]
    assert bid_count(site) == 1
    after = site.get(first.headers["location"]).text
    assert 'data-testid="bid-done"' in after
    assert 'data-testid="available">¥11,000.00<' in after
    assert 'data-testid="frozen">¥4,000.00<' in after
    assert 'data-testid="remaining">¥6,000.00<' in after

    last = bid(site, x.id, "6000")  # the rest fills the listing: notes, loan, payout
    assert last.status_code == 303, last.text
    assert 'data-testid="listing-status">已满标<' in site.get(page).text
    with site.engine.connect() as c:
        (note,) = c.execute(select(notes).where(notes.c.lender_id == cid)).all()
        i = installments.c
        rows = c.execute(
            select(i.due_date, i.principal_fen, i.interest_fen)
            .where(i.loan_id == note.loan_id, i.seq > 0)
            .order_by(i.seq)
        ).all()
    assert note.principal_fen == 1_000_000 and len(rows) == 6
    mine = site.get("/m/market/portfolio").text
    assert 'data-testid="available">¥5,000.00<' in mine
    assert 'data-testid="frozen">¥0.00<' in mine
    assert 'data-testid="outstanding">¥10,000.00<' in mine
    assert 'data-testid="expected-principal">¥10,000.00<' in mine
    interest = sum(r.interest_fen for r in rows)
    assert f'data-testid="expected-interest">{yuan(interest)}<' in mine
    assert f'<tr data-note="{note.id}">' in mine and "¥10,000.00" in mine
    calendar = site.get("/m/market/calendar").text
    for r in rows:  # the lender holds the whole loan: the calendar is its schedule, to the fen
        total = yuan(r.principal_fen + r.interest_fen)
        assert re.search(
            rf'<tr data-date="{r.due_date}"><td>{r.due_date}</td><td class="amount">'
            rf"{re.escape(yuan(r.principal_fen))}</td><td class=\"amount\">"
            rf"{re.escape(yuan(r.interest_fen))}</td><td class=\"amount\">{re.escape(total)}<",
            calendar,
        ), r
    site.client.cookies.set(i18n.COOKIE, "en")
    english = {
        "/m/market": "Listings open for bids",
        page: "Project disclosure",
        "/m/market/portfolio": "Annual rate of my cash flows (XIRR)",
        "/m/market/calendar": "Repayment calendar",
        "/m/market/auto-invest": "Save and authorise",
        "/m/market/claims": "Offer a note",
    }
    for path, words in english.items():
        r = site.get(path)
        assert r.status_code == 200 and words in r.text, path


def test_refusals_beside_the_amount_change_nothing(site):
    cid = lender(site, money=100_000, level="C1")  # ¥1,000; a C1 lender may take R1 only
    r2 = listed(site, risk_grade="R2")
    r1 = listed(site, risk_grade="R1")
    grade = bid(site, r2.id, "500")
    assert grade.status_code == 403
    assert beside(grade.text, "amount") == "您的风险承受能力等级不允许投资该风险等级的项目。"
    poor = bid(site, r1.id, "2000")
    assert poor.status_code == 409
    assert beside(poor.text, "amount") == "账户可用余额不足。"
    page = f"/m/market/{r1.id}"
    forged = {**form_of(site, page), "amount": "500", "agree": "1", "disclosure_version": "1"}
    forged.pop("csrf_token")  # a post from another site cannot know the token
    assert site.client.post(page + "/bid", data=forged).status_code == 403
    assert bid_count(site) == 0
    assert 'data-testid="available">¥1,000.00<' in site.get(page).text
    assert site.get("/m/market/999999").status_code == 404
    # without the standing authorisation (业务授权) the bid is refused, with the way to grant it
    with site.engine.begin() as c:
        for g in authorisations.of_user(c, user_ref=f"customer-{cid}"):
            authorisations.mark_revoked(c, grant_id=g.id, user_ref=g.user_ref, clock=site.clock)
    unauthorised = bid(site, r1.id, "500")
    assert unauthorised.status_code == 409
    assert "请先为该子账户向存管银行进行业务授权。" in unauthorised.text
    assert 'href="/m/money#authorisations"' in unauthorised.text
    assert bid_count(site) == 0


def test_a_frozen_bid_shows_in_the_portfolio_and_is_cancelled_once(site):
    cid = lender(site, money=1_000_000)
    x = listed(site)
    assert bid(site, x.id, "2500").status_code == 303
    mine = site.get("/m/market/portfolio").text
    assert 'data-testid="frozen">¥2,500.00<' in mine
    assert re.search(r'<tr data-bid="\d+">.*?¥2,500\.00</td>', mine)
    with site.engine.connect() as c:
        bid_id = c.execute(select(bids_table.c.id)).scalar_one()
    action = f"/m/market/bids/{bid_id}/cancel"
    data = form_of(site, "/m/market/portfolio")
    data["form_key"] += f"-{bid_id}"
    first = site.client.post(action, data=data)
    assert first.status_code == 303
    assert site.client.post(action, data=data).status_code == 303  # the same form again
    assert lender_available(site, cid) == 1_000_000
    after = site.get(first.headers["location"]).text
    assert 'data-testid="bid-cancelled"' in after and 'data-testid="frozen">¥0.00<' in after
    again = site.client.post(action, data={**data, "form_key": "another-form"})
    assert again.status_code == 409 and "该出借已不能撤销。" in again.text
    with site.engine.connect() as c:
        assert c.execute(select(bids_table.c.status)).scalar_one() == "cancelled"


def test_auto_invest_is_authorised_with_parameters_and_revoked(site):
    cid = lender(site, money=0)
    page = "/m/market/auto-invest"
    form = {
        "amount_per_listing": "500",
        "min_rate": "abc",
        "min_term": "3",
        "max_term": "12",
        "max_grade": "R2",
        "keep_balance": "100",
        "confirm": "1",
    }
    bad = site.submit(page, page, form)
    assert bad.status_code == 422
    assert beside(bad.text, "min_rate") == "请按百分比填写利率，例如 8.5。"
    unconfirmed = site.submit(page, page, {**form, "min_rate": "8", "confirm": ""})
    assert unconfirmed.status_code == 422 and beside(unconfirmed.text, "confirm")
    ok = site.submit(page, page, {**form, "min_rate": "8.5"})
    assert ok.status_code == 303, ok.text
    with site.engine.connect() as c:
        row = c.execute(select(auto_invest).where(auto_invest.c.lender_id == cid)).one()
    assert row.status == "active" and row.amount_per_listing_fen == 50_000
    assert row.keep_balance_fen == 10_000 and row.max_grade == "R2"
    shown = site.get(page).text
    assert 'value="500.00"' in shown and 'value="8.50"' in shown
    assert site.submit(page, page + "/revoke", {}).status_code == 303
    with site.engine.connect() as c:
        status = c.execute(select(auto_invest.c.status).where(auto_invest.c.lender_id == cid))
        assert status.scalar_one() == "revoked"


def test_a_note_held_too_briefly_cannot_be_offered(site):
    cid = lender(site, money=1_000_000)
    x = listed(site, amount_fen=1_000_000)
    assert bid(site, x.id, "10000").status_code == 303
    with site.engine.connect() as c:
        note_id = c.execute(select(notes.c.id).where(notes.c.lender_id == cid)).scalar_one()
    page = "/m/market/claims"
    html = site.get(page).text
    assert f'<option value="{note_id}"' in html
    data = {**form_of(site, page), "note": str(note_id), "principal": "5000", "price": "5000"}
    r = site.client.post(page, data=data)
    assert r.status_code == 409
    assert beside(r.text, "principal") == "未满最短持有期的债权不能转让。"


# ------------------------------------------------------------------------------ staff


def test_staff_publish_close_and_expire_with_the_permission_only(site):
    cid = lender(site, money=1_000_000)
    opened = listed(site, amount_fen=1_000_000)
    draft = run_in_transaction(site.engine, lambda c: _draft(c, site))
    run_in_transaction(
        site.engine,
        lambda c: bids.place_bid(
            c,
            listing_id=opened.id,
            lender_id=cid,
            amount_fen=300_000,
            disclosure_version=1,
            actor=STAFF,
            clock=site.clock,
        ),
    )
    staff(site, "risk.officer", "risk_officer")  # no marketplace permission at all
    assert site.get("/admin/market").status_code == 403
    staff(site, "risk.manager", "risk_manager")  # may read, not act
    seen = site.get("/admin/market")
    assert seen.status_code == 200
    assert f'data-listing="{opened.id}"' in seen.text
    assert "¥3,000.00 (30%)" in seen.text and 'data-testid="reserve"' in seen.text
    assert 'data-testid="publish"' not in seen.text and 'data-testid="close"' not in seen.text
    assert site.submit("/admin/market", "/admin/market/expire", {}).status_code == 403

    ops = site.new_staff("ops.manager", position="operations_manager")
    assert site.staff_login(ops).status_code == 303
    drafts = site.get("/admin/market?status=draft").text
    assert f'data-listing="{draft}"' in drafts and 'data-testid="publish"' in drafts
    page = "/admin/market?status=draft"
    published = site.submit(page, f"/admin/market/{draft}/publish", {})
    assert published.status_code == 303
    again = site.submit(page, f"/admin/market/{draft}/publish", {})
    assert again.status_code == 409
    assert beside(again.text, f"listing-{draft}") == "只有草稿状态的项目可以发布。"
    short = site.submit("/admin/market", f"/admin/market/{opened.id}/close", {"reason": "x"})
    assert short.status_code == 422 and beside(short.text, f"listing-{opened.id}")
    closed = site.submit(
        "/admin/market", f"/admin/market/{opened.id}/close", {"reason": "borrower withdrew"}
    )
    assert closed.status_code == 303
    with site.engine.connect() as c:
        (status,) = c.execute(select(bids_table.c.status)).scalars().all()
    assert status == "voided"
    money = site.get(f"/m/market/{draft}").text  # the frozen ¥3,000.00 is free again
    assert 'data-testid="available">¥10,000.00<' in money and "¥0.00" in money

    site.clock.advance(timedelta(days=8))  # the published draft's window closes unfilled
    assert site.staff_login(ops).status_code == 303  # the old session has timed out
    expired = site.submit("/admin/market", "/admin/market/expire", {})
    assert expired.status_code == 303
    failed = site.get(expired.headers["location"]).text
    assert f'data-listing="{draft}"' in failed
    assert "到期处理：1 个项目流标，释放 0 笔冻结出借，¥0.00 重新可用。" in failed


def _draft(c: Any, site: Site) -> int:
    bid_id, _ = market_borrower(c, site.clock)
    app_id = approved_application(c, site.clock, customer_id=bid_id)
    made = listings.create_listing(
        c,
        application_id=app_id,
        title="门店装修",
        description="按月等额本息还款。",
        risk_grade="R2",
        min_bid_fen=10_000,
        step_fen=10_000,
        disclosure=DISCLOSURE,
        actor=STAFF,
        clock=site.clock,
    )
    return made.id


def lender_available(site: Site, who: int) -> int:
    with site.engine.connect() as c:
        (found,) = custody.balances(c, user_ref=user_ref(who), roles=(custody.Role.LENDER,))
    return found.available


def test_a_note_is_offered_once_bought_by_another_lender_and_an_offer_cancelled(site):
    alice = lender(site, money=1_000_000)
    x = listed(site, amount_fen=1_000_000)
    assert bid(site, x.id, "10000").status_code == 303
    with site.engine.connect() as c:
        note = c.execute(select(notes).where(notes.c.lender_id == alice)).one()
        i = installments.c
        sched = c.execute(
            select(installments).where(i.loan_id == note.loan_id, i.seq > 0).order_by(i.seq)
        ).all()

    def first_repaid(c: Any) -> None:  # the borrower repays installment 1 on its due date
        deposit(
            c,
            site.clock,
            accounts.user_account(c, x.borrower_id, custody.Role.BORROWER),
            500_000,
            "web-claims",
        )
        go_to(c, site.clock, sched[0].due_date)
        first = sched[0].principal_fen + sched[0].interest_fen
        distribution.repay(c, loan_id=note.loan_id, amount_fen=first, actor=STAFF, clock=site.clock)
        go_to(c, site.clock, sched[0].due_date + timedelta(days=5))

    run_in_transaction(site.engine, first_repaid)
    site.login(ALICE)  # a month later: a new session
    page = "/m/market/claims"
    data = {**form_of(site, page), "note": str(note.id), "principal": "3000", "price": "3000"}
    made = site.client.post(page, data=data)
    assert made.status_code == 303, made.text
    again = site.client.post(page, data=data)  # the same form twice: one offer
    assert again.status_code == 303 and again.headers["location"] == made.headers["location"]
    with site.engine.connect() as c:
        (offer,) = c.execute(select(claim_offers)).all()
    assert (offer.principal_fen, offer.price_fen, offer.fee_fen) == (300_000, 300_000, 900)
    shown = site.get(page).text
    assert f'<tr data-offer="{offer.id}">' in shown and 'data-testid="cancel-offer"' in shown
    twice = site.client.post(
        page, data={**form_of(site, page), **{k: data[k] for k in ("note", "principal", "price")}}
    )
    assert twice.status_code == 409
    assert beside(twice.text, "principal") == "该债权已在转让中。"

    with TestClient(site.app, follow_redirects=False) as client:  # Bob, on his own phone
        bob_site = Site(site.app, client, site.engine, site.clock)
        bob_site.onboard(BOB)
        with site.engine.connect() as c:
            bob = int(c.execute(select(func.max(customers.c.id))).scalar_one())
        run_in_transaction(site.engine, lambda c: equip_lender(c, site.clock, bob, money=400_000))
        seller_before = lender_available(site, alice)
        buy = f"/m/market/claims/{offer.id}/buy"
        bought = bob_site.client.post(buy, data=form_of(bob_site, page))
        assert bought.status_code == 303, bought.text
        assert lender_available(site, bob) == 100_000
        assert lender_available(site, alice) == seller_before + 300_000 - 900
        mine = bob_site.get("/m/market/portfolio").text
        assert 'data-testid="outstanding">¥3,000.00<' in mine
        with site.engine.connect() as c:  # fed by the service fee and the sale's fee
            reserve = views.reserve(c)
        assert reserve.balance_fen > 0
        assert f'data-testid="reserve-balance">{yuan(reserve.balance_fen)}<' in mine
        late = bob_site.client.post(buy, data=form_of(bob_site, "/m/market/claims"))
        assert late.status_code == 409 and "该转让已结束。" in late.text  # sold already

    data = {**form_of(site, page), "note": str(note.id), "principal": "1000", "price": "1000"}
    assert site.client.post(page, data=data).status_code == 303
    with site.engine.connect() as c:
        second = c.execute(select(claim_offers).where(claim_offers.c.status == "open")).one()
    cancel = site.client.post(f"/m/market/claims/{second.id}/cancel", data=form_of(site, page))
    assert cancel.status_code == 303
    with site.engine.connect() as c:
        statuses = c.execute(select(claim_offers.c.status).order_by(claim_offers.c.id))
        assert statuses.scalars().all() == ["sold", "cancelled"]
