"""Seeding: what a platform has before its first simulated day.

Products through ``lending.products``, the org chart and one login per built-in role through
``identity.staff``, the company's capital through ``lending.accounts.inject_capital``, the
custody bank's platform accounts, then the people: borrowers and investors drawn by
``population``, written set-based by ``bulk``; each investor then gets a custody sub-account,
a transaction password at the bank and a suitability assessment through the services.
Credentials are demo-only and derived from the seed, so the printed logins are reproducible.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal

import numpy as np
from sqlalchemy import Connection

from puhui.core.errors import PuhuiError
from puhui.custody import flows
from puhui.custody.bank import AuthMethod, Authorisation
from puhui.custody.service import Role
from puhui.db.engine import run_in_transaction
from puhui.identity import passwords, risk, roles, staff
from puhui.identity.audit import Actor
from puhui.lending import accounts, calendar, products
from puhui.lending.product_terms import ProductTerms
from puhui.marketplace import accounts as market_accounts
from puhui.ops import channels, leads
from puhui.sim import bulk, population
from puhui.sim.world import SIM_ACTOR, Login, World

Progress = Callable[[str, int, int], None]

#: A consumer instalment loan of a licensed lender: 3/6/12 months, 8–18%, 1,000–200,000 yuan,
#: a 50-yuan late fee after 3 days' grace.
CONSUMER_LOAN = ProductTerms(
    mode="direct",
    method="equal_installment",
    term_unit="month",
    terms=population.LOAN_TERMS,
    min_annual_rate=Decimal("0.08"),
    max_annual_rate=Decimal("0.18"),
    min_amount_fen=100_000,
    max_amount_fen=20_000_000,
    regulatory_profile="licensed_lender",
    late_fee_fen=5_000,
    grace_days=3,
)
#: The same loan funded by lenders on the platform (private-lending caps).
MARKETPLACE_LOAN = ProductTerms(
    mode="marketplace",
    method="equal_installment",
    term_unit="month",
    terms=(6, 12),
    min_annual_rate=Decimal("0.07"),
    max_annual_rate=Decimal("0.10"),
    min_amount_fen=100_000,
    max_amount_fen=10_000_000,
    regulatory_profile="private_lending",
    penalty_rate_multiplier=Decimal("1.2"),
)
PRODUCT_CODE = "XFD-DEMO"
MARKETPLACE_CODE = "P2P-DEMO"
#: Capital per borrower the company starts with (enough that cash never binds).
CAPITAL_PER_BORROWER_FEN = 3_000_000
MIN_CAPITAL_FEN = 1_000_000_000
#: Suitability answers that reach each level with the built-in questionnaire (options a–e).
RISK_ANSWERS: dict[str, dict[str, str]] = {
    "C1": dict.fromkeys((f"q{i}" for i in range(1, 13)), "a"),
    "C2": dict.fromkeys((f"q{i}" for i in range(1, 13)), "b"),
    "C3": {**dict.fromkeys((f"q{i}" for i in range(1, 13)), "b"), "q6": "c", "q9": "c"},
    "C4": {**dict.fromkeys((f"q{i}" for i in range(1, 13)), "c"), "q5": "b", "q12": "b"},
    "C5": {**dict.fromkeys((f"q{i}" for i in range(1, 13)), "c"), "q6": "d", "q7": "d", "q9": "d"},
}


def demo_password(seed: int, who: str) -> str:
    """A demo-only password, the same for the same seed: three character classes, 14 long."""
    digest = hashlib.sha256(f"puhui-demo\x1f{seed}\x1f{who}".encode()).hexdigest()
    return f"Demo-{digest[:8]}{digest[8:10].upper()}7"


def seed_products(world: World, conn: Connection) -> None:
    """The consumer loan, and the marketplace product where product validation accepts it
    (a refusal is recorded, not raised: the marketplace is simulated only once it exists)."""
    for code, name, terms in (
        (PRODUCT_CODE, "消费分期贷（演示）", CONSUMER_LOAN),
        (MARKETPLACE_CODE, "网贷撮合（演示）", MARKETPLACE_LOAN),
    ):
        try:
            with conn.begin_nested():
                products.create_product(
                    conn,
                    code=code,
                    name=name,
                    terms=terms,
                    effective_from=world.config.start,
                    clock=world.clock,
                )
        except PuhuiError:
            if code == PRODUCT_CODE:
                raise
            world.missing.add(f"{code}: refused by product validation")
            continue
        if code == PRODUCT_CODE:
            world.product_code = code
        else:
            world.marketplace_code = code


def seed_staff(world: World, conn: Connection) -> None:
    """One active login per built-in position, so every role can be tried."""
    roles.ensure_catalog(conn)
    for code, name, _unit, role in roles.BUILTIN_POSITIONS:
        username = f"demo.{code}"
        password = demo_password(world.config.seed, username)
        made = staff.create(
            conn,
            keys=world.keys,
            username=username,
            display_name=f"{name}（演示）",
            password=password,
            position=code,
            actor=SIM_ACTOR,
            clock=world.clock,
        )
        world.staff_ids[role] = made.member.id
        world.logins.append(Login(role, username, password, made.totp_secret))


def capital_fen(world: World) -> int:
    return max(MIN_CAPITAL_FEN, world.config.borrowers * CAPITAL_PER_BORROWER_FEN)


def seed_company(world: World, progress: Progress) -> None:
    """Calendar, products, staff and capital, in one transaction."""
    progress("company", 0, 1)

    def work(conn: Connection) -> None:
        calendar.set_date(conn, business_date_=world.config.start, clock=world.clock)
        seed_products(world, conn)
        seed_staff(world, conn)
        accounts.inject_capital(
            conn,
            amount=capital_fen(world),
            transfer_id=f"sim:{world.config.seed}:capital",
            clock=world.clock,
        )

    run_in_transaction(world.engine, work)
    progress("company", 1, 1)


def seed_people(world: World, progress: Progress) -> None:
    """Draw the borrowers and investors and write them as verified customers, one
    transaction per chunk (a retried chunk is written again whole, nothing twice)."""
    cfg, today = world.config, world.config.start
    world.borrowers = population.borrowers(world.rng, cfg.borrowers, today=today)
    world.investors = population.investors(
        world.rng, cfg.investors, today=today, first_index=cfg.borrowers
    )
    password = demo_password(cfg.seed, "customers")
    hashed = passwords.hash_password(password)
    total, done = cfg.borrowers + cfg.investors, 0
    progress("customers", 0, total)
    made: dict[str, np.ndarray] = {}
    for name, who in (("borrower", world.borrowers.people), ("investor", world.investors.people)):
        parts = []
        for start in range(0, len(who), bulk.CHUNK):
            rows = np.arange(start, min(len(who), start + bulk.CHUNK))
            parts.append(
                run_in_transaction(
                    world.engine,
                    lambda c, who=who, rows=rows: bulk.insert_customers(
                        c,
                        keys=world.keys,
                        verifier=world.verifier,
                        people=who,
                        rows=rows,
                        password_hash=hashed,
                        clock=world.clock,
                    ),
                )
            )
            done += len(rows)
            progress("customers", done, total)
        made[name] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        if len(who):
            world.logins.append(Login(name, str(who.phone[0]), password))
    world.borrower_ids, world.investor_ids = made["borrower"], made["investor"]


def custody_ref(customer_id: int) -> str:
    """The customer's name at the custody bank, as the money API names it."""
    return f"customer-{customer_id}"


def investor_password(seed: int) -> str:
    """The transaction password simulated investors set at the sandbox bank."""
    return str(int(hashlib.sha256(f"bank\x1f{seed}".encode()).hexdigest(), 16))[:6]


def seed_investors(world: World, progress: Progress) -> None:
    """Each investor: a custody sub-account, a bank transaction password, a suitability level
    from the questionnaire and the signed risk notice. One service call each."""
    assert world.investors is not None
    n = len(world.investor_ids)
    secret = investor_password(world.config.seed)
    progress("investors", 0, n)
    for k, cid in enumerate(world.investor_ids.tolist()):
        acc = flows.open_account(
            world.engine, world.bank, user_ref=custody_ref(cid), role="lender", clock=world.clock
        )
        assert acc.bank_account_no
        world.bank.set_transaction_password(acc.bank_account_no, secret)
        if world.config.marketplace:  # 业务授权: the bank posts their bids at full funding
            flows.authorise(
                world.engine,
                world.bank,
                user_ref=custody_ref(cid),
                role="lender",
                authorisation=Authorisation(AuthMethod.PASSWORD, secret),
                clock=world.clock,
            )
        level = str(world.investors.risk_level[k])

        def work(conn: Connection, cid: int = cid, level: str = level) -> None:
            definition = risk.current_questionnaire(conn)
            risk.assess(
                conn,
                customer_id=cid,
                version=definition["version"],
                answers=RISK_ANSWERS[level],
                actor=SIM_ACTOR,
                clock=world.clock,
            )
            risk.sign_notice(
                conn,
                customer_id=cid,
                version=str(risk.RISK_NOTICE["version"]),
                actor=SIM_ACTOR,
                clock=world.clock,
            )

        run_in_transaction(world.engine, work)
        progress("investors", k + 1, n)


#: The channels investors found the platform through (运营渠道), with their share of leads.
CHANNELS: tuple[tuple[str, str, float], ...] = (
    ("flyer", "社区宣传单（演示）", 0.3),
    ("event", "理财沙龙（演示）", 0.2),
    ("campaign", "线上推广（演示）", 0.35),
    ("referral", "老客推荐（演示）", 0.15),
)


def seed_leads(world: World, progress: Progress) -> None:
    """Operations' channels, and every investor as a lead of the channel that found them
    (their landing form comes before registration), then the daily sync links each lead to the
    customer it became and moves it to the stage reached. One transaction."""
    assert world.investors is not None
    n = len(world.investor_ids)
    if not n:
        return
    progress("leads", 0, n)
    shares = np.array([share for _k, _n, share in CHANNELS])
    drawn = world.rng.choice(len(CHANNELS), size=n, p=shares / shares.sum())
    ops = Actor(f"staff:{world.staff_ids['operations_manager']}")
    people = world.investors.people

    def work(conn: Connection) -> int:
        codes = [
            channels.create(conn, kind=kind, name=name, actor=ops, clock=world.clock).code
            for kind, name, _share in CHANNELS
        ]
        for k in range(n):
            leads.capture(
                conn,
                keys=world.keys,
                channel_code=codes[int(drawn[k])],
                name=str(people.name[k]),
                phone=str(people.phone[k]),
                clock=world.clock,
            )
        return leads.sync(conn, clock=world.clock)

    world.count("ops_leads_synced", run_in_transaction(world.engine, work))
    world.count("ops_leads_captured", n)
    progress("leads", n, n)


def seed_marketplace_accounts(world: World) -> None:
    """The marketplace's fee and risk-reserve sub-accounts at the custody bank, and the
    platform's standing authorisation to compensate lenders out of the reserve."""
    if not (world.config.marketplace and world.marketplace_code):
        return
    opened = market_accounts.open_platform_accounts(world.engine, world.bank, clock=world.clock)
    reserve = next(a for a in opened if a.role is Role.RISK_RESERVE)
    assert reserve.bank_account_no
    secret = investor_password(world.config.seed + 1)
    world.bank.set_transaction_password(reserve.bank_account_no, secret)
    flows.authorise(
        world.engine,
        world.bank,
        user_ref=reserve.user_ref,
        role=Role.RISK_RESERVE,
        authorisation=Authorisation(AuthMethod.PASSWORD, secret),
        clock=world.clock,
    )


def seed(world: World, progress: Progress) -> None:
    seed_company(world, progress)
    seed_marketplace_accounts(world)
    seed_people(world, progress)
    seed_investors(world, progress)
    seed_leads(world, progress)
