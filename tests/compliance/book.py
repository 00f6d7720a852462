"""A known loan book for the disclosure tests, built through the lending services.

Period 2026-10, cut-off 2026-10-31 23:59:59 Shanghai. Marketplace rows (listings, notes,
compensations) are inserted straight into the ``mkt_`` tables: the marketplace package has no
service yet to build them with.

Borrowers and loans (principal in fen):

* A — three loans 400,000 + 300,000 + 300,000, all current: the largest borrower (1,000,000)
  though B has the largest single loan (DIS-OPS-02).
* B — 900,000 from 2026-07-02, nothing paid: first due 2026-08-02, exactly 90 days overdue.
* C — 200,000 from 2026-07-01, nothing paid: first due 2026-08-01, 91 days overdue.
* D — 500,000 from 2026-06-15, nothing paid, compensated (代偿) to one lender on 2026-09-20
  (260,000) and to another on 2026-11-05 (after the cut-off).
* E — a related party, 150,000 from 2026-09-01, first installment paid on its due date.
* S — 120,000 from 2026-08-10, prepaid in full on 2026-09-15: cumulative only.
* H1..H6 — 100,000, 110,000, … 150,000 from 2026-10-15: current, the small end of the top 10.
* F — 700,000 disbursed 2026-11-01: after the cut-off, in no figure.

Lenders: X and Z fund B (Z sells its note to V on 2026-10-10); X and Y fund D (X compensated
before the cut-off); W buys into C on 2026-11-03 (after it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import Connection, insert

from lending import factories
from puhui.compliance.related import flag_related_party
from puhui.core.clock import SHANGHAI, FixedClock
from puhui.identity.audit import Actor
from puhui.lending import calendar, servicing
from puhui.marketplace.models import compensations, listings, notes

STAFF = Actor("staff:1")
PERIOD = "2026-10"


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI).astimezone(UTC)


def _us(day: date, hour: int = 10) -> int:
    return int(_at(day, hour).timestamp() * 1_000_000)


@dataclass
class Book:
    customers: dict[str, int] = field(default_factory=dict)
    loans: dict[str, int] = field(default_factory=dict)
    lenders: dict[str, int] = field(default_factory=dict)


def _loan(
    conn: Connection,
    clock: FixedClock,
    book: Book,
    version,
    who: str,
    name: str,
    amount: int,
    start: date,
) -> int:
    clock.set(_at(start, 9))
    calendar.set_date(conn, business_date_=start, clock=clock)
    if who not in book.customers:
        book.customers[who] = factories.customer(conn, clock)
    loan_id = factories.accepted_loan(
        conn,
        clock,
        version=version,
        customer_id=book.customers[who],
        amount_fen=amount,
        start=start,
    )
    servicing.disburse(conn, loan_id=loan_id, actor=STAFF, clock=clock)
    book.loans[name] = loan_id
    return loan_id


def build(conn: Connection, clock: FixedClock) -> Book:
    book = Book()
    start = date(2026, 6, 1)
    clock.set(_at(start, 8))
    calendar.set_date(conn, business_date_=start, clock=clock)
    factories.fund(conn, clock, amount=1_000_000_000, tag="disclosure")
    version = factories.product(conn, clock)

    # In date order: the business date only moves forward.
    _loan(conn, clock, book, version, "D", "D", 500_000, date(2026, 6, 15))
    _loan(conn, clock, book, version, "C", "C", 200_000, date(2026, 7, 1))
    _loan(conn, clock, book, version, "B", "B", 900_000, date(2026, 7, 2))
    _loan(conn, clock, book, version, "S", "S", 120_000, date(2026, 8, 10))
    _loan(conn, clock, book, version, "E", "E", 150_000, date(2026, 9, 1))
    clock.set(_at(date(2026, 9, 15)))
    calendar.set_date(conn, business_date_=date(2026, 9, 15), clock=clock)
    servicing.prepay(conn, loan_id=book.loans["S"], mode="full", actor=STAFF, clock=clock)
    clock.set(_at(date(2026, 10, 1)))
    calendar.set_date(conn, business_date_=date(2026, 10, 1), clock=clock)
    due = servicing.quote(conn, loan_id=book.loans["E"], clock=clock).payable_fen
    servicing.repay(conn, loan_id=book.loans["E"], amount_fen=due, actor=STAFF, clock=clock)
    _loan(conn, clock, book, version, "A", "A1", 400_000, date(2026, 10, 5))
    _loan(conn, clock, book, version, "A", "A2", 300_000, date(2026, 10, 10))
    _loan(conn, clock, book, version, "A", "A3", 300_000, date(2026, 10, 12))
    for k in range(6):
        _loan(
            conn,
            clock,
            book,
            version,
            f"H{k + 1}",
            f"H{k + 1}",
            100_000 + 10_000 * k,
            date(2026, 10, 15),
        )
    _loan(conn, clock, book, version, "F", "F", 700_000, date(2026, 11, 1))

    # E is a related party of the platform.
    flag_related_party(
        conn, customer_id=book.customers["E"], relation="shareholder", disclosed=True, clock=clock
    )
    # Lenders and their notes, compensations.
    for who in ("X", "Y", "Z", "V", "W"):
        book.lenders[who] = factories.customer(conn, clock)
    lid = {}
    for name, acquired in (
        ("B", date(2026, 7, 2)),
        ("D", date(2026, 6, 15)),
        ("C", date(2026, 7, 1)),
    ):
        lid[name] = conn.execute(
            insert(listings).values(
                application_id=900 + book.loans[name],
                loan_id=book.loans[name],
                borrower_id=book.customers[name],
                product_code="XFD",
                title=f"listing {name}",
                description="消费贷",
                purpose="consumption",
                amount_fen=0,
                annual_rate="0.12",
                term_count=12,
                method="equal_installment",
                risk_grade="R2",
                min_bid_fen=10_000,
                step_fen=10_000,
                status="funded",
                created_at=_us(acquired),
                updated_at=_us(acquired),
            )
        ).inserted_primary_key[0]

    def note(listing: str, lender: str, principal: int, acquired: date, **kw) -> int:
        return int(
            conn.execute(
                insert(notes).values(
                    listing_id=lid[listing],
                    loan_id=book.loans[listing],
                    lender_id=book.lenders[lender],
                    principal_fen=principal,
                    outstanding_principal_fen=principal,
                    status=kw.pop("status", "active"),
                    acquired_at=_us(acquired),
                    source=kw.pop("source", "bid"),
                    **kw,
                )
            ).inserted_primary_key[0]
        )

    note("B", "X", 300_000, date(2026, 7, 2))
    z = note("B", "Z", 600_000, date(2026, 7, 2), status="transferred")
    note("B", "V", 600_000, date(2026, 10, 10), source="claim_transfer", parent_note_id=z)
    dx = note("D", "X", 250_000, date(2026, 6, 15))
    dy = note("D", "Y", 250_000, date(2026, 6, 15))
    note("C", "W", 200_000, date(2026, 11, 3))
    for note_id, lender, amount, day in (
        (dx, "X", 260_000, date(2026, 9, 20)),
        (dy, "Y", 262_000, date(2026, 11, 5)),
    ):
        conn.execute(
            insert(compensations).values(
                loan_id=book.loans["D"],
                note_id=note_id,
                lender_id=book.lenders[lender],
                payer="risk_reserve",
                amount_fen=amount,
                business_date=day,
                reason="overdue",
            )
        )
    clock.set(_at(date(2026, 11, 2)))
    calendar.set_date(conn, business_date_=date(2026, 11, 2), clock=clock)
    return book
