"""The day loop: every simulated day runs the same ordered list of steps against the services.

A step is a named function of the ``World``; ``DAY_STEPS`` is the list, in the order a real
day goes (money in at the bank in the morning, applications during the day, collections in
the allowed hours, the end-of-day batch at night, then the bank's statement and the
reconciliation, the compliance checks, the seals). Each domain joined by adding its steps:
credit lines (``credit_lines``), the marketplace (``market``, on request), month-end disclosure
and compliance (``disclosure``), operations' lead sync. Each step moves the shared
``FixedClock`` forward to its hour; nothing ever sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from puhui.custody import flows, jobs
from puhui.custody.bank import AuthMethod, Authorisation
from puhui.custody.service import balances as custody_balances
from puhui.db.engine import run_in_transaction
from puhui.identity import audit
from puhui.ledger import jobs as ledger_jobs
from puhui.lending import jobs as lending_jobs
from puhui.ops import coupons
from puhui.ops import leads as ops_leads
from puhui.sim import borrowing, credit_lines, disclosure, market, repaying
from puhui.sim.seed import custody_ref, investor_password
from puhui.sim.world import SimConfig, World

#: An investor tops up on a given day with this probability, and withdraws with this one.
DEPOSIT_RATE = 0.04
WITHDRAW_RATE = 0.01


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[World], None]


def _authorisation(world: World) -> Authorisation:
    return Authorisation(AuthMethod.PASSWORD, investor_password(world.config.seed))


def investor_money(world: World) -> None:
    """09:00 — some investors recharge their lender sub-accounts at the custody bank (always
    on the first day, to put money in), a few withdraw part of what is idle."""
    if world.investors is None or not len(world.investor_ids):
        return
    world.at(9)
    n = len(world.investor_ids)
    first = world.day_index == 0
    deposit = world.rng.random(n) < (1.0 if first else DEPOSIT_RATE)
    withdraw = ~deposit & (world.rng.random(n) < WITHDRAW_RATE)
    share = world.rng.uniform(0.05, 0.3, size=n)
    day = world.today.isoformat().replace("-", "")
    for k in deposit.nonzero()[0].tolist():
        amount = int(world.investors.assets_fen[k]) if first else int(share[k] * 10_000_000)
        flows.deposit(
            world.engine,
            world.bank,
            user_ref=custody_ref(int(world.investor_ids[k])),
            role="lender",
            amount=max(amount, 100),
            authorisation=_authorisation(world),
            instruction_id=f"SIMDEP-{day}-{k}",
            clock=world.clock,
        )
        world.count("investor_deposits")
    for k in withdraw.nonzero()[0].tolist():
        ref = custody_ref(int(world.investor_ids[k]))
        with world.engine.connect() as c:
            available = sum(b.available for b in custody_balances(c, user_ref=ref))
        amount = int(available * share[k])
        if amount <= 0:
            continue
        flows.withdraw(
            world.engine,
            world.bank,
            user_ref=ref,
            role="lender",
            amount=amount,
            authorisation=_authorisation(world),
            instruction_id=f"SIMWDR-{day}-{k}",
            clock=world.clock,
        )
        world.count("investor_withdrawals")


def operations_sync(world: World) -> None:
    """08:45 — ``puhui ops sync``: leads move to the stage their customer reached, old coupons
    expire."""
    world.at(8, 45)

    def work(c: Connection) -> int:
        moved = ops_leads.sync(c, clock=world.clock)
        coupons.expire(c, clock=world.clock)
        return moved

    moved = run_in_transaction(world.engine, work)
    if moved:
        world.count("ops_lead_stages_moved", moved)


def bank_settles(world: World) -> None:
    """17:00 — the platform sends its queued instructions (bids posted at funding, claim
    sales), the bank completes its queue, and a few minutes later the platform polls."""
    _settle_at(world, 17, 0)


def night_settlement(world: World) -> None:
    """23:20 — the same after the day's close: what the marketplace distributed to the note
    holders reaches the bank on the day the ledger booked it, so the statement matches."""
    _settle_at(world, 23, 20)


def _settle_at(world: World, hour: int, minute: int) -> None:
    world.at(hour, minute)
    flows.send_queued(world.engine, world.bank, clock=world.clock)
    world.bank.settle()
    world.at(hour, minute + 5)
    flows.settle(world.engine, world.bank, clock=world.clock, quiet_seconds=60)


def end_of_day(world: World) -> None:
    """23:00 — the lending end-of-day batch closes the date (``puhui eod``'s function):
    accrual, auto-debit from the sandbox cards, aging, penalties, classification, provisions,
    write-offs, the sub-ledger check, and the calendar moves to tomorrow."""
    world.at(23)
    for day in lending_jobs.run_eod(world.engine, clock=world.clock, start=world.today):
        for step, (n, fen) in day.totals().items():
            if n:
                world.count(f"eod_{step}_loans", n)
            if fen and step == "debit":
                world.count("eod_debit_fen", fen)


def reconciliation(world: World) -> None:
    """23:40 — fetch the day's custody statement and reconcile it with the ledger."""
    world.at(23, 40)
    result = jobs.reconcile_day(
        world.engine,
        world.bank,
        business_date=world.today,
        directory=world.config.statement_dir,
        clock=world.clock,
    )
    world.count("reconciliations")
    if not result.clean:
        world.count("reconciliation_breaks", max(1, len(result.open_breaks)))


def seals(world: World) -> None:
    """23:55 — seal the day's ledger chain heads and audit log."""
    world.at(23, 55)
    day = world.today
    run_in_transaction(
        world.engine, lambda c: ledger_jobs.seal_day(c, business_date=day, clock=world.clock)
    )
    run_in_transaction(
        world.engine, lambda c: audit.seal_day(c, business_date=day, clock=world.clock)
    )


DAY_STEPS: list[Step] = [
    Step("AML filings and last month's disclosure", disclosure.morning_filings),
    Step("operations: lead stages and coupon expiry", operations_sync),
    Step("investor deposits and withdrawals", investor_money),
    Step("late repayments and prepayments", repaying.manual_payments),
    Step("loan applications, decisions and offers", borrowing.loan_applications),
    Step("disbursements", repaying.disbursements),
    Step("credit lines granted, purchases at the sandbox merchant", credit_lines.purchases),
    Step("marketplace listings, auto-invest and bids", market.listings_and_bids),
    Step("marketplace claim transfers", market.claim_transfers),
    Step("collection contacts", borrowing.collection_contacts),
    Step("marketplace borrowers pay into custody", market.borrower_deposits),
    Step("custody bank settlement", bank_settles),
    Step("borrowers fund their debit cards", repaying.card_funding),
    Step("credit-line statements paid, minimum paid or converted", credit_lines.statement_payments),
    Step("marketplace day close: expiry, auto-invest, distribution", market.day_close),
    Step("lending end-of-day batch", end_of_day),
    Step("custody bank settles the night's instructions", night_settlement),
    Step("custody statement and reconciliation", reconciliation),
    Step("month-end disclosure figures", disclosure.month_end),
    Step("compliance daily: AML monitors and regulatory checks", disclosure.compliance_daily),
    Step("ledger and audit seals", seals),
]


#: What a day does not hold yet, because the domain does not exist in this tree; each joins
#: ``DAY_STEPS`` as a step when it does. Listed in every summary.
NOT_YET: tuple[str, ...] = ()


#: Listed when a run switches the marketplace off (``SimConfig.marketplace``).
MARKETPLACE_OFF = (
    "marketplace listings, bids, auto-invest and claim transfers: off (--no-marketplace)"
)


def not_simulated(config: SimConfig) -> tuple[str, ...]:
    """What this run leaves out: ``NOT_YET`` and the steps its settings switch off."""
    return NOT_YET + (() if config.marketplace else (MARKETPLACE_OFF,))


def run_day(world: World, steps: list[Step]) -> None:
    for step in steps:
        step.run(world)


def next_day(world: World) -> None:
    """Move to 08:00 of the next day."""
    world.day_index += 1
    world.at(8)


def simulate(
    world: World,
    *,
    steps: list[Step] | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Run ``config.days`` days from the current one."""
    chosen = DAY_STEPS if steps is None else steps
    for d in range(world.config.days):
        if d:
            next_day(world)
        run_day(world, chosen)
        if progress is not None:
            progress(d + 1)
