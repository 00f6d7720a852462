"""Coupons paid from the platform's marketing money through both books, their rules, the one
reward per identity guard, and races that must pay exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from identity.conftest import ACTOR
from puhui.core.errors import Conflict, PuhuiError, ValidationError
from puhui.custody import service as custody
from puhui.db.engine import run_in_transaction
from puhui.ledger import service as ledger
from puhui.ledger.codes import Book
from puhui.lending import accounts as gl
from puhui.ops import coupons, marketing

from .conftest import MARKETING


def lender_balance(engine, customer_id: int) -> int:
    with engine.connect() as c:
        acc = custody.get_account(c, user_ref=marketing.custody_ref(customer_id), role="lender")
        return ledger.get_account(c, acc.ledger_account_id).credit_balance


def custody_totals(engine) -> tuple[int, int]:
    """Σ debits and Σ credits posted over the custody book."""
    with engine.connect() as c:
        accs = ledger.find_accounts(c, book=Book.CUSTODY)
    return sum(a.debits_posted for a in accs), sum(a.credits_posted for a in accs)


@pytest.fixture
def welcome(engine, org, clock):
    return run_in_transaction(
        engine,
        lambda c: coupons.create_rule(
            c,
            code="welcome50",
            name="新手红包 50元",
            kind="cash",
            amount_fen=5_000,
            min_amount_fen=100_000,
            min_term_months=3,
            max_term_months=12,
            products=("P6", "P12"),
            valid_days=30,
            actor=ACTOR,
            clock=clock,
        ),
    )


def issue(engine, clock, rule: str, customer_id: int, **kw):
    return run_in_transaction(
        engine,
        lambda c: coupons.issue(
            c, rule_code=rule, customer_id=customer_id, reason="test", clock=clock, **kw
        ),
    )


def redeem(engine, clock, coupon_id, customer_id, ref, amount=200_000, term=6, product="P6"):
    return run_in_transaction(
        engine,
        lambda c: coupons.redeem_coupon(
            c,
            coupon_id=coupon_id,
            customer_id=customer_id,
            investment_ref=ref,
            amount_fen=amount,
            term_months=term,
            product_code=product,
            clock=clock,
        ),
    )


def test_a_cash_coupon_is_paid_from_marketing_money_and_balances_in_both_books(
    engine, org, clock, welcome
):
    coupon = issue(engine, clock, "welcome50", org.c1)
    assert (coupon.status, coupon.kind, coupon.paid_fen) == ("issued", "cash", 0)
    got = redeem(engine, clock, coupon.id, org.c1, "bid-1")
    assert got == coupons.Redemption(coupon.id, "bid-1", "cash", 5_000)
    assert redeem(engine, clock, coupon.id, org.c1, "bid-1") == got  # a retry pays nothing more
    assert lender_balance(engine, org.c1) == 5_000
    with engine.connect() as c:
        books = marketing.check_books(c)
        assert books == marketing.Books(MARKETING - 5_000, MARKETING - 5_000, 5_000)
        assert books.agree
        assert gl.trial_balance(c).balanced
        assert coupons.get(c, coupon_id=coupon.id).status == "redeemed"
        assert coupons.coupon_for_investment(c, investment_ref="bid-1") == coupon.id
    debits, credits = custody_totals(engine)
    assert debits == credits
    with pytest.raises(Conflict, match="coupon is redeemed"):
        redeem(engine, clock, coupon.id, org.c1, "bid-2")
    with pytest.raises(Conflict, match="already given"):
        issue(engine, clock, "welcome50", org.c1)


@pytest.mark.parametrize(
    ("amount", "term", "product", "code"),
    [
        (99_999, 6, "P6", "amount_below_minimum"),
        (100_000, 2, "P6", "term_not_allowed"),
        (100_000, 13, "P12", "term_not_allowed"),
        (100_000, 6, "P24", "product_not_allowed"),
    ],
)
def test_the_rules_refuse_a_use_and_change_nothing(
    engine, org, clock, welcome, amount, term, product, code
):
    coupon = issue(engine, clock, "welcome50", org.c1)
    with pytest.raises(ValidationError) as err:
        redeem(engine, clock, coupon.id, org.c1, "bid-x", amount, term, product)
    assert err.value.code == code
    with engine.connect() as c:
        assert coupons.get(c, coupon_id=coupon.id).status == "issued"
    assert lender_balance(engine, org.c1) == 0
    # someone else's coupon is not found, and expiry ends it
    with pytest.raises(PuhuiError, match="no such coupon"):
        redeem(engine, clock, coupon.id, org.c2, "bid-y")
    clock.advance(timedelta(days=30))
    with pytest.raises(Conflict, match="expired"):
        redeem(engine, clock, coupon.id, org.c1, "bid-z")
    assert run_in_transaction(engine, lambda c: coupons.expire(c, clock=clock)) == 1


def test_an_interest_boost_pays_the_extra_interest_once_per_distribution(engine, org, clock):
    run_in_transaction(
        engine,
        lambda c: coupons.create_rule(
            c,
            code="boost1",
            name="加息券 1%",
            kind="boost",
            boost_rate=Decimal("0.01"),
            actor=ACTOR,
            clock=clock,
        ),
    )
    coupon = issue(engine, clock, "boost1", org.c2)
    got = redeem(engine, clock, coupon.id, org.c2, "bid-2", 1_000_000, 12, "P12")
    assert (got.kind, got.paid_fen) == ("boost", 0)

    def pay(ref: str, interest: int) -> int:
        return run_in_transaction(
            engine,
            lambda c: coupons.boost_payout(
                c,
                coupon_id=coupon.id,
                interest_fen=interest,
                base_rate=Decimal("0.09"),
                distribution_ref=ref,
                clock=clock,
            ),
        )

    # 7,500 fen of interest at 9% → the 1% boost is 7,500 × 1/9 = 833.33 → 833 fen
    assert pay("dist-2-1", 7_500) == 833
    assert pay("dist-2-1", 7_500) == 833
    assert pay("dist-2-2", 7_500) == 833
    assert lender_balance(engine, org.c2) == 1_666
    with engine.connect() as c:
        assert coupons.get(c, coupon_id=coupon.id).paid_fen == 1_666
        assert marketing.check_books(c).expense == 1_666


def test_a_payout_beyond_the_marketing_money_rolls_back_whole(engine, org, clock):
    run_in_transaction(
        engine,
        lambda c: coupons.create_rule(
            c,
            code="huge",
            name="大红包",
            kind="cash",
            amount_fen=MARKETING + 1,
            actor=ACTOR,
            clock=clock,
        ),
    )
    coupon = issue(engine, clock, "huge", org.c1)
    with pytest.raises(Conflict) as err:
        redeem(engine, clock, coupon.id, org.c1, "bid-h", 10_000_000, 6, "P6")
    assert err.value.code == "marketing_budget_exhausted"
    with engine.connect() as c:
        assert coupons.get(c, coupon_id=coupon.id).status == "issued"
        assert marketing.check_books(c) == marketing.Books(MARKETING, MARKETING, 0)
    assert lender_balance(engine, org.c1) == 0


def test_a_rule_budget_caps_what_its_coupons_pay(engine, org, clock):
    run_in_transaction(
        engine,
        lambda c: coupons.create_rule(
            c,
            code="capped",
            name="限量红包",
            kind="cash",
            amount_fen=3_000,
            budget_fen=5_000,
            actor=ACTOR,
            clock=clock,
        ),
    )
    first = issue(engine, clock, "capped", org.c1)
    second = issue(engine, clock, "capped", org.c2)
    redeem(engine, clock, first.id, org.c1, "bid-c1")
    with pytest.raises(Conflict, match="budget is spent"):
        redeem(engine, clock, second.id, org.c2, "bid-c2")
    assert lender_balance(engine, org.c2) == 0


def test_rules_refuse_banned_names_and_bad_shapes(engine, org, clock):
    bad = [
        {"code": "g1", "name": "保本红包", "kind": "cash", "amount_fen": 100},
        {"code": "g2", "name": "红包", "kind": "cash", "amount_fen": 0},
        {"code": "g3", "name": "加息", "kind": "boost", "boost_rate": Decimal("0.2")},
        {"code": "g4", "name": "红包", "kind": "gift", "amount_fen": 100},
    ]
    for spec in bad:
        with pytest.raises(ValidationError):
            run_in_transaction(
                engine,
                lambda c, spec=spec: coupons.create_rule(c, actor=ACTOR, clock=clock, **spec),
            )


def _race(n: int, work) -> list[object]:
    barrier = threading.Barrier(n)
    out: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = work(i)
        except PuhuiError as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_simultaneous_redemptions_of_one_coupon_pay_exactly_once(engine, org, clock, welcome):
    coupon = issue(engine, clock, "welcome50", org.c1)
    results = _race(4, lambda i: redeem(engine, clock, coupon.id, org.c1, f"bid-race-{i}"))
    won = [r for r in results if isinstance(r, coupons.Redemption)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 1 and len(lost) == 3, results
    assert lender_balance(engine, org.c1) == 5_000
    with engine.connect() as c:
        assert marketing.check_books(c).expense == 5_000


def test_simultaneous_rewards_for_one_identity_are_given_once(engine, org, clock, welcome):
    results = _race(4, lambda i: issue(engine, clock, "welcome50", org.c3))
    assert sum(isinstance(r, coupons.Coupon) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) and r.code == "reward_already_given" for r in results) == 3


def test_an_invite_rewards_the_referrer_once_per_real_invitee(engine, keys, org, clock):
    from datetime import date

    from puhui.ops import campaigns, investments

    from .conftest import new_investor

    run_in_transaction(
        engine,
        lambda c: coupons.create_rule(
            c,
            code=campaigns.REFERRAL_RULE,
            name="邀请奖励",
            kind="cash",
            amount_fen=2_000,
            actor=ACTOR,
            clock=clock,
        ),
    )
    code = run_in_transaction(
        engine, lambda c: campaigns.referral_code(c, customer_id=org.c1, clock=clock)
    )
    invitee = new_investor(engine, keys, clock, 7, org.fa1, org.team_a)
    run_in_transaction(
        engine,
        lambda c: campaigns.accept_referral(c, invitee_id=invitee, code=code.lower(), clock=clock),
    )
    with pytest.raises(Conflict, match="already named"):
        run_in_transaction(
            engine,
            lambda c: campaigns.accept_referral(c, invitee_id=invitee, code=code, clock=clock),
        )

    def invest(ref: str) -> None:
        run_in_transaction(
            engine,
            lambda c: investments.record_investment(
                c,
                investment_ref=ref,
                customer_id=invitee,
                amount_fen=100_000,
                term_months=3,
                product_code="P3",
                invested_on=date(2026, 11, 2),
                clock=clock,
            ),
        )

    invest("inv-ref-1")
    invest("inv-ref-2")
    with engine.connect() as c:
        got = coupons.list_coupons(c, customer_id=org.c1)
        assert [(x.rule_code, x.reason, x.status) for x in got] == [
            (campaigns.REFERRAL_RULE, f"referral:{invitee}", "issued")
        ]
        assert [r.reward_coupon_id for r in campaigns.referrals_of(c, referrer_id=org.c1)] == [
            got[0].id
        ]
    redeem(engine, clock, got[0].id, org.c1, "bid-reward")
    assert lender_balance(engine, org.c1) == 2_000
    # the same real invitee cannot earn a second reward for anyone through another code
    code2 = run_in_transaction(
        engine, lambda c: campaigns.referral_code(c, customer_id=org.c2, clock=clock)
    )
    assert code2 != code
    with engine.connect() as c:
        key = "invitee:" + coupons.identity_key(c, invitee)
    with pytest.raises(Conflict, match="already given"):
        run_in_transaction(
            engine,
            lambda c: coupons.issue(
                c,
                rule_code=campaigns.REFERRAL_RULE,
                customer_id=org.c2,
                reason="x",
                guard_key=key,
                clock=clock,
            ),
        )


def test_migration_0016_matches_the_ops_models(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from puhui.db.metadata import metadata

    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "ops_" in repr(d)] == []
