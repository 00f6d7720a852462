"""Shared credit-line test helpers: a funded company, a customer and a granted line."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from lending import factories
from puhui.core.clock import Clock
from puhui.identity.audit import Actor
from puhui.ledger.verify import verify
from puhui.lending import accounts, calendar
from puhui.lending.credit_line import books, service

STAFF = Actor("staff:1", ("operations_manager",))
DAY = date(2026, 11, 2)
INCOME = 30_000_000  # 300,000 yuan a year: grade A → 150,000 yuan, capped by MCL at 100,000


def line(
    conn: Connection,
    clock: Clock,
    *,
    limit_fen: int | None = 1_000_000,
    today: date = DAY,
    capital: int = factories.CAPITAL,
) -> service.Line:
    """A granted line (10,000 yuan by default) for a new customer, on ``today``."""
    calendar.set_date(conn, business_date_=today, clock=clock)
    if capital and not accounts.balances(conn)[accounts.AccountCode.COMPANY_CASH]:
        factories.fund(conn, clock, amount=capital, tag="credit-line")
    cid = factories.customer(conn, clock)
    return service.grant(
        conn,
        customer_id=cid,
        grade="A",
        annual_income_fen=INCOME,
        limit_fen=limit_fen,
        actor=STAFF,
        clock=clock,
    )


def books_agree(conn: Connection) -> None:
    """Sub-ledger = GL for the lines and for the loans, the trial balance balances and the
    ledger verifies."""
    assert books.check_subledger(conn) == {}
    assert accounts.check_subledger(conn) == {}
    assert accounts.trial_balance(conn).balanced
    assert verify(conn) == []
