"""The marketplace's side of a simulated day (网络借贷信息中介), through ``marketplace``'s services.

Some borrowers apply for the marketplace product instead of the consumer loan; an approved
application becomes a listing that operations publish with its DIS-PRJ-01 disclosure. On the
first day a share of investors enrol in auto-invest (P2P-LND-05); every afternoon the
auto-invest queue runs on new listings and other investors bid by hand, each bid checked by the
suitability rules (a refusal is counted by its code, as the investor would see it). A bid that
fills a listing funds it: the notes are written and the loan paid out into the borrower's
custody sub-account (the bank moves each lender's money under the lender's standing
authorisation, 业务授权), from which the borrower withdraws it to their card; its fate is
drawn as for a direct loan. Before the bank's cut-off a paying borrower deposits
what is due into that sub-account, and the lending end of day collects it and distributes it to
the note holders. At night the marketplace closes its day (expiry 流标, auto-invest,
distribution, claim offers lapse). Now and then a lender who has held a note a month offers it
(债权转让) and another investor buys it.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from sqlalchemy import Connection, and_, func, select

from puhui.core.errors import PuhuiError
from puhui.custody import authorisations, flows
from puhui.custody.bank import AuthMethod, Authorisation
from puhui.custody.service import Role
from puhui.custody.service import balances as custody_balances
from puhui.db.engine import run_in_transaction
from puhui.identity.audit import Actor
from puhui.lending import products
from puhui.lending.models import installment_unpaid_fen, installments, loans
from puhui.marketplace import auto_invest, bids, claims, jobs, listings
from puhui.marketplace.models import listings as listing_rows
from puhui.marketplace.models import loan_funding, notes
from puhui.sim import borrowing
from puhui.sim.seed import investor_password
from puhui.sim.world import World

#: Share of the day's applications that are for the marketplace product.
MARKET_SHARE = 0.35
#: Share of investors enrolled in auto-invest on the first day.
AUTO_INVEST_SHARE = 0.3
#: Manual bidders a day per open listing (Poisson mean).
BIDDERS = 4.0
#: A paying borrower has what is due in the custody sub-account by the due date.
ON_TIME = 0.93
#: A late (not defaulting) marketplace borrower deposits what is overdue on a given day.
CURE_RATE = 0.25
#: A lender offers an eligible note (held a month, loan current) on a given day.
CLAIM_RATE = 0.02
#: Investors who look at a claim offer on its day, one after another, until one buys it;
#: an offer nobody buys lapses after its days (``claims.expire_offers``).
BUYERS_ASKED = 4
#: Bids are whole hundreds of yuan.
MIN_BID_FEN = 10_000
#: Risk grades by modelled PD: below each bound the grade (R1 … R5).
GRADE_BOUNDS = ((0.1, "R1"), (0.2, "R2"), (0.3, "R3"), (0.45, "R4"), (1.01, "R5"))


def _on(world: World) -> bool:
    return world.config.marketplace and world.marketplace_code is not None


def _ops(world: World) -> Actor:
    return Actor(f"staff:{world.staff_ids['operations_manager']}")


def _customer(cid: int) -> Actor:
    return Actor(f"customer:{cid}")


def _authorisation(world: World) -> Authorisation:
    return Authorisation(AuthMethod.PASSWORD, investor_password(world.config.seed))


def grade_of(pd_: float) -> str:
    return next(g for bound, g in GRADE_BOUNDS if pd_ < bound)


def disclosure_of(world: World, row: int) -> dict[str, str]:
    """DIS-PRJ-01's fields from what the borrower declared: bands only, no personal value."""
    assert world.borrowers is not None
    b = world.borrowers
    monthly = int(b.people.income_fen[row]) // 100 // 12
    band = f"{monthly // 5_000 * 5_000:,}–{(monthly // 5_000 + 1) * 5_000:,}"
    return {
        "borrower_kind": "自然人 natural person",
        "industry": str(b.people.occupation[row]),
        "income_and_debt": f"月收入 {band} 元",
        "credit_overdue_6m": "无 none",
        "other_platform_loans": "无 none",
        "repayment_source": "工资收入 salary",
        "repayment_safeguards": "无担保 none",
        "risk_assessment": f"{grade_of(float(b.pd[row]))}: modelled default probability "
        f"{float(b.pd[row]):.0%}",
    }


def enrol_auto_invest(world: World) -> None:
    """The first day: a share of investors authorise auto-invest within their risk level."""
    assert world.investors is not None
    n = len(world.investor_ids)
    chosen = (world.rng.random(n) < AUTO_INVEST_SHARE).nonzero()[0].tolist()
    for k in chosen:
        cid = int(world.investor_ids[k])
        amount = int(world.rng.integers(5, 51)) * MIN_BID_FEN

        def work(c: Connection, cid: int = cid, amount: int = amount) -> None:
            auto_invest.authorise(
                c,
                lender_id=cid,
                amount_per_listing_fen=amount,
                min_rate=Decimal("0.07"),
                min_term=1,
                max_term=12,
                max_grade="R5",
                keep_balance_fen=0,
                actor=_customer(cid),
                clock=world.clock,
            )

        try:
            run_in_transaction(world.engine, work)
        except PuhuiError as exc:  # suitability: the rules refuse some levels
            world.count(f"auto_invest_refused_{exc.code}")
            continue
        world.auto_investors.add(cid)
        world.count("auto_invest_enrolled")


def borrower_account(world: World, cid: int) -> None:
    """The borrower's custody sub-account at the bank, opened on the first listing, with the
    repayment authorisation (业务授权) that lets the platform pass repayments to the lenders."""
    ref = f"customer-{cid}"
    acc = flows.open_account(
        world.engine, world.bank, user_ref=ref, role="borrower", clock=world.clock
    )
    assert acc.bank_account_no
    with world.engine.connect() as c:
        if authorisations.active_by_account(c, {acc.bank_account_no}):
            return
    world.bank.set_transaction_password(acc.bank_account_no, investor_password(world.config.seed))
    flows.authorise(
        world.engine,
        world.bank,
        user_ref=ref,
        role="borrower",
        authorisation=_authorisation(world),
        clock=world.clock,
    )


def market_terms(world: World, row: int, terms: tuple[int, ...], max_fen: int) -> tuple[int, int]:
    assert world.borrowers is not None
    want = int(world.borrowers.term[row])
    term = min((t for t in terms if t >= want), default=max(terms))
    amount = min(int(world.borrowers.amount_fen[row]), max_fen) // MIN_BID_FEN * MIN_BID_FEN
    return max(amount, MIN_BID_FEN * 10), term


def new_listings(world: World) -> None:
    """Marketplace applications, decided like any other; approved ones listed and published."""
    assert world.borrowers is not None and world.marketplace_code
    with world.engine.connect() as conn:
        busy = borrowing.busy_customers(conn)
        version = products.get_product(conn, code=world.marketplace_code)
    free = borrowing.free_rows(world, busy)
    rate = world.config.apply_rate * MARKET_SHARE
    n = min(int(world.rng.poisson(rate * len(free))), len(free))
    chosen = world.rng.choice(free, size=n, replace=False) if n else free[:0]
    for row in chosen.tolist():
        amount, term = market_terms(world, row, version.terms.terms, version.terms.max_amount_fen)
        world.count("market_applications_made")
        app_id, state = borrowing.decide(
            world, row, version.version_id, amount_fen=amount, term=term, offer=False
        )
        world.count(f"market_applications_{state}")
        if state != "approved":
            continue
        cid = int(world.borrower_ids[row])
        borrower_account(world, cid)
        pd_ = float(world.borrowers.pd[row])

        def list_it(c: Connection, app_id: int = app_id, row: int = row, pd_: float = pd_) -> None:
            draft = listings.create_listing(
                c,
                application_id=app_id,
                title="个人消费借款",
                description="借款人按月等额本息还款；出借有风险，请审慎决策。",
                risk_grade=grade_of(pd_),
                min_bid_fen=MIN_BID_FEN,
                step_fen=MIN_BID_FEN,
                disclosure=disclosure_of(world, row),
                actor=_ops(world),
                clock=world.clock,
            )
            listings.publish(c, listing_id=draft.id, actor=_ops(world), clock=world.clock)

        try:
            run_in_transaction(world.engine, list_it)
        except PuhuiError as exc:
            world.count(f"listings_refused_{exc.code}")
            continue
        world.count("listings_published")


def _open_listings(conn: Connection) -> list[tuple[int, int, int, int]]:
    lr = listing_rows.c
    rows = conn.execute(
        select(lr.id, lr.borrower_id, lr.amount_fen - lr.funded_fen, lr.disclosure_version)
        .where(lr.status == "open")
        .order_by(lr.id)
    ).all()
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in rows]


def bidding(world: World) -> None:
    """Auto-invest on new listings, then manual bids from investors not enrolled."""

    def auto(c: Connection) -> int:
        done = auto_invest.run_open_listings(c, actor=_ops(world), clock=world.clock)
        return sum(len(r.bids) for r in done)

    placed = run_in_transaction(world.engine, auto)
    if placed:
        world.count("bids_auto", placed)
    manual = np.array(
        [cid for cid in world.investor_ids.tolist() if cid not in world.auto_investors],
        dtype=np.int64,
    )
    if not len(manual):
        return
    with world.engine.connect() as conn:
        open_now = _open_listings(conn)
    for listing_id, _borrower, _remaining, version in open_now:
        k = min(int(world.rng.poisson(BIDDERS)), len(manual))
        for cid in world.rng.choice(manual, size=k, replace=False).tolist():
            with world.engine.connect() as conn:
                remaining = conn.execute(
                    select(listing_rows.c.amount_fen - listing_rows.c.funded_fen).where(
                        listing_rows.c.id == listing_id, listing_rows.c.status == "open"
                    )
                ).scalar()
            if not remaining:
                break
            amount = min(int(world.rng.integers(5, 101)) * MIN_BID_FEN, int(remaining))

            def bid(
                c: Connection,
                listing_id: int = listing_id,
                cid: int = cid,
                amount: int = amount,
                version: int = version,
            ) -> None:
                bids.place_bid(
                    c,
                    listing_id=listing_id,
                    lender_id=cid,
                    amount_fen=amount,
                    disclosure_version=version,
                    actor=_customer(cid),
                    clock=world.clock,
                )

            try:
                run_in_transaction(world.engine, bid)
            except PuhuiError as exc:
                world.count(f"bids_refused_{exc.code}")
                continue
            world.count("bids_manual")


def funded_loans(world: World) -> None:
    """Loans funded today: draw each one's fate; the borrower takes the money out."""
    f = loan_funding.c
    with world.engine.connect() as conn:
        fresh = conn.execute(
            select(f.loan_id, loans.c.customer_id, loans.c.term, loans.c.principal_fen)
            .join(loans, loans.c.id == f.loan_id)
            .order_by(f.loan_id)
        ).all()
    assert world.borrowers is not None
    pds = dict(zip(world.borrower_ids.tolist(), world.borrowers.pd.tolist(), strict=True))
    for loan_id, cid, term, principal in fresh:
        if int(loan_id) in world.default_from:
            continue
        defaults = world.rng.random() < pds.get(int(cid), 0.0)
        world.default_from[int(loan_id)] = int(world.rng.integers(1, term + 1)) if defaults else 0
        world.count("market_loans_funded")
        world.count("market_funded_fen", int(principal))
        ref = f"customer-{int(cid)}"
        with world.engine.connect() as conn:
            available = sum(
                b.available for b in custody_balances(conn, user_ref=ref, roles=(Role.BORROWER,))
            )
        if available > 0:  # the proceeds go to the borrower's card (the bank first hears of
            # the lenders' money the funding queued for this account)
            done = flows.withdraw(
                world.engine,
                world.bank,
                user_ref=ref,
                role="borrower",
                amount=available,
                authorisation=_authorisation(world),
                instruction_id=f"SIMMKTOUT-{loan_id}",
                clock=world.clock,
            )
            world.count(f"market_payout_withdrawals_{done.status.value}")


def listings_and_bids(world: World) -> None:
    """16:10 — marketplace applications and listings, auto-invest and bids, payouts taken."""
    if not _on(world) or world.borrowers is None:
        return
    world.at(16, 10)
    if world.day_index == 0:
        enrol_auto_invest(world)
    new_listings(world)
    bidding(world)
    funded_loans(world)


def _market_due(conn: Connection, world: World) -> list[tuple[int, int, int, int, bool]]:
    """(loan, borrower, first unpaid installment, amount due by today, overdue) of live
    marketplace loans."""
    unpaid = installment_unpaid_fen()
    rows = conn.execute(
        select(
            loans.c.id,
            loans.c.customer_id,
            func.min(installments.c.seq),
            func.sum(unpaid),  # type: ignore[arg-type]
            func.min(installments.c.due_date),
        )
        .select_from(
            loans.join(installments, installments.c.loan_id == loans.c.id).join(
                loan_funding, loan_funding.c.loan_id == loans.c.id
            )
        )
        .where(
            and_(
                loans.c.state.in_(("disbursed", "active")),
                installments.c.due_date <= world.today,
                unpaid > 0,  # type: ignore[operator]
            )
        )
        .group_by(loans.c.id, loans.c.customer_id)
        .order_by(loans.c.id)
    ).all()
    return [(int(a), int(b), int(c), int(d), e < world.today) for a, b, c, d, e in rows]


def borrower_deposits(world: World) -> None:
    """16:40 — marketplace borrowers who pay put what is due in their custody sub-account
    before the bank's cut-off; tonight's end of day collects it for the note holders."""
    if not _on(world):
        return
    world.at(16, 40)
    with world.engine.connect() as conn:
        due = _market_due(conn, world)
    day = world.today.isoformat().replace("-", "")
    for loan_id, cid, seq, amount, overdue in due:
        start = world.default_from.get(loan_id, 0)
        if start and seq >= start:
            continue
        if world.rng.random() >= (CURE_RATE if overdue else ON_TIME):
            continue
        flows.deposit(
            world.engine,
            world.bank,
            user_ref=f"customer-{cid}",
            role="borrower",
            amount=amount,
            authorisation=_authorisation(world),
            instruction_id=f"SIMMKTIN-{day}-{loan_id}",
            clock=world.clock,
        )
        world.count("market_borrower_deposits")


def claim_transfers(world: World) -> None:
    """16:20 — a few lenders offer a note held a month; another investor buys it."""
    if not _on(world) or not len(world.investor_ids):
        return
    world.at(16, 20)
    n = notes.c
    month_us = 30 * 86_400 * 1_000_000
    now_us = int(world.clock.now().timestamp() * 1_000_000)
    with world.engine.connect() as conn:
        held = conn.execute(
            select(n.id, n.lender_id, n.outstanding_principal_fen)
            .join(loans, loans.c.id == n.loan_id)
            .where(
                n.status == "active",
                n.acquired_at <= now_us - month_us,
                n.outstanding_principal_fen > 0,
                loans.c.bucket == "M0",
            )
            .order_by(n.id)
        ).all()
    for note_id, seller, principal in held:
        if world.rng.random() >= CLAIM_RATE:
            continue

        def offer(
            c: Connection, note_id: int = note_id, seller: int = int(seller), fen: int = principal
        ) -> int:
            held_in = select(n.loan_id).where(n.id == note_id).scalar_subquery()
            loan = c.execute(select(loans).where(loans.c.id == held_in)).one()
            value = claims.claim_value(c, loan=loan, principal_fen=fen, clock=world.clock)
            return claims.offer_claim(
                c,
                note_id=note_id,
                seller_id=seller,
                principal_fen=fen,
                price_fen=value,
                actor=_customer(seller),
                clock=world.clock,
            ).id

        try:
            offer_id = run_in_transaction(world.engine, offer)
        except PuhuiError as exc:  # e.g. the blackout before a due date
            world.count(f"claims_refused_{exc.code}")
            continue
        world.count("claims_offered")
        others = world.investor_ids[world.investor_ids != int(seller)]
        tries = min(BUYERS_ASKED, len(others))
        for buyer in world.rng.choice(others, size=tries, replace=False).tolist():
            try:
                run_in_transaction(
                    world.engine,
                    lambda c, offer_id=offer_id, buyer=buyer: claims.buy_claim(
                        c,
                        offer_id=offer_id,
                        buyer_id=buyer,
                        actor=_customer(buyer),
                        clock=world.clock,
                    ),
                )
            except PuhuiError as exc:  # the buyer's suitability or balance; the next one looks
                world.count(f"claims_refused_{exc.code}")
                continue
            world.count("claims_transferred")
            break


def day_close(world: World) -> None:
    """22:30 — the marketplace's day: expiry (流标), auto-invest, distribution, claim lapses."""
    if not _on(world):
        return
    world.at(22, 30)
    report = run_in_transaction(
        world.engine, lambda c: jobs.run_day(c, actor=_ops(world), clock=world.clock)
    )
    if report.expired.listings:
        world.count("listings_expired", report.expired.listings)
    if report.auto_bids:
        world.count("bids_auto", report.auto_bids)
