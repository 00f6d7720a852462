"""Shared lending test factories: a product, a verified borrower, an accepted loan, capital.

Loans are inserted straight into ``lending_loans`` in state ``accepted`` (what the application
flow leaves behind), so servicing, end-of-day and collections tests do not depend on the whole
application flow. Everything runs in the caller's connection and never commits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select

from puhui.core.clock import Clock
from puhui.identity.models import customers
from puhui.lending import accounts, calendar, contract_terms, products
from puhui.lending.apr import schedule_rates
from puhui.lending.models import applications, loans
from puhui.lending.product_terms import ProductTerms
from puhui.lending.products import ProductVersion
from puhui.lending.schedules import build_schedule

from .samples import LICENSED

#: The business date the tests start on: the ``clock`` fixture's Shanghai date.
DAY = date(2026, 11, 2)
#: 12% a year, equal installments, a 50-yuan late fee after 3 days' grace, penalty 1.5×.
TERMS: ProductTerms = replace(LICENSED, late_fee_fen=5_000, grace_days=3)
AMOUNT = 1_200_000  # 12,000 yuan
RATE = Decimal("0.12")
CAPITAL = 100_000_000  # 1,000,000 yuan in the company's cash


def _us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)


def product(
    conn: Connection, clock: Clock, *, code: str = "XFD", terms: ProductTerms = TERMS
) -> ProductVersion:
    """A product version (created the first time, read back after)."""
    row = conn.execute(
        select(func.count()).select_from(products.products).where(products.products.c.code == code)
    ).scalar()
    if row:
        return products.get_product(conn, code=code)
    return products.create_product(
        conn, code=code, name="消费贷", terms=terms, effective_from=date(2026, 1, 1), clock=clock
    )


def customer(conn: Connection, clock: Clock) -> int:
    """A verified, active person (no personal values: lending never reads them)."""
    n = conn.execute(select(func.count()).select_from(customers)).scalar() or 0
    now = _us(clock)
    return int(
        conn.execute(
            insert(customers).values(
                kind="person",
                status="active",
                phone_bidx=f"test-phone-{n + 1}",
                id_number_bidx=f"test-id-{n + 1}",
                birth_year=1990,
                kyc_status="verified",
                kyc_verified_us=now,
                password_hash="-",
                password_changed_us=now,
                failed_logins=0,
                wrapped_key="-",
                key_id="test",
                created_us=now,
                updated_us=now,
            )
        ).inserted_primary_key[0]
    )


def accepted_loan(
    conn: Connection,
    clock: Clock,
    *,
    version: ProductVersion,
    customer_id: int,
    amount_fen: int = AMOUNT,
    term: int = 12,
    annual_rate: Decimal = RATE,
    start: date = DAY,
    cooling_off: timedelta = timedelta(days=7),
) -> int:
    """An application and its loan, both ``accepted`` (signed, not yet disbursed); the loan id.

    ``start`` fills ``start_date``/``maturity_date`` as offered; disbursement sets them again
    from its value date.
    """
    lt = contract_terms.loan_terms(
        version, amount_fen=amount_fen, term=term, annual_rate=annual_rate, start=start
    )
    schedule = build_schedule(lt)
    penalty = contract_terms.penalty_rate(version, annual_rate)
    now = _us(clock)
    app_id = conn.execute(
        insert(applications).values(
            customer_id=customer_id,
            product_version_id=version.version_id,
            amount_fen=amount_fen,
            term=term,
            annual_rate=str(annual_rate),
            purpose="consumption",
            state="accepted",
            approved_fen=amount_fen,
            created_us=now,
            updated_us=now,
        )
    ).inserted_primary_key[0]
    text = f"test contract for application {app_id}"
    loan_id = conn.execute(
        insert(loans).values(
            application_id=app_id,
            customer_id=customer_id,
            product_version_id=version.version_id,
            state="accepted",
            principal_fen=amount_fen,
            annual_rate=str(annual_rate),
            penalty_rate=str(penalty),
            rate_ppb=contract_terms.rate_ppb(annual_rate),
            penalty_rate_ppb=contract_terms.rate_ppb(penalty),
            year_days=contract_terms.year_days(version),
            method=version.terms.method.value,
            term_unit=version.terms.term_unit.value,
            term=term,
            start_date=start,
            maturity_date=schedule.installments[-1].due_date,
            grace_days=version.terms.grace_days,
            upfront_fee_fen=lt.upfront_fee_fen,
            irr_annual_rate=str(schedule_rates(schedule).annual_rate_irr),
            contract_text=text,
            contract_sha256=hashlib.sha256(text.encode()).hexdigest(),
            signed_us=now,
            cooling_off_until_us=now + int(cooling_off.total_seconds() * 1_000_000),
            created_us=now,
            updated_us=now,
        )
    ).inserted_primary_key[0]
    conn.execute(applications.update().where(applications.c.id == app_id).values(loan_id=loan_id))
    return int(loan_id)


def fund(conn: Connection, clock: Clock, *, amount: int = CAPITAL, tag: str = "test") -> None:
    """注资: put ``amount`` fen into the company's cash."""
    accounts.inject_capital(conn, amount=amount, transfer_id=f"capital:{tag}", clock=clock)


@dataclass(frozen=True)
class Book:
    """What ``setup`` made: the product version, the borrower and the accepted loan."""

    version: ProductVersion
    customer_id: int
    loan_id: int


def setup(
    conn: Connection,
    clock: Clock,
    *,
    terms: ProductTerms = TERMS,
    code: str = "XFD",
    capital: int = CAPITAL,
    business_date: date = DAY,
    **loan: Any,
) -> Book:
    """A funded company, a product, a verified borrower and one accepted loan, with the
    business date set to ``business_date``. ``loan`` goes to ``accepted_loan``."""
    calendar.set_date(conn, business_date_=business_date, clock=clock)
    if capital:
        fund(conn, clock, amount=capital, tag=f"{code}:{capital}")
    version = product(conn, clock, code=code, terms=terms)
    cid = customer(conn, clock)
    loan.setdefault("start", business_date)
    return Book(version, cid, accepted_loan(conn, clock, version=version, customer_id=cid, **loan))
