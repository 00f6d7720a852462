"""The 21 monthly figures against SQL written independently here, and against hand counts.

The independent SQL is plain text with correlated subqueries, so it shares no code with
``compliance.disclosure``; the hand counts pin the definitions (day 90 out, day 91 in, one
borrower with three loans counted once, the compensation after the cut-off left out).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, text

from puhui.compliance.disclosure import ITEM_CODES, cut_off, missing_items, monthly_figures

from .book import PERIOD, build

D = date(2026, 10, 31)
LIVE = "t.reversed_by_id IS NULL AND t.kind <> 'reversal' AND t.value_date <= :d"
PAY = "('repayment','auto_debit','prepay_full','prepay_term','prepay_amount','cancel')"

#: Per loan disbursed by D: outstanding principal, unpaid interest, the oldest unpaid due date.
POSITIONS = f"""
SELECT l.id AS loan_id, l.customer_id, l.principal_fen AS principal,
  CASE WHEN EXISTS (SELECT 1 FROM lending_loan_transactions t
                    WHERE t.loan_id = l.id AND t.kind = 'write_off' AND {LIVE}) THEN 0
       ELSE l.principal_fen - COALESCE((SELECT SUM(t.principal_fen)
            FROM lending_loan_transactions t
            WHERE t.loan_id = l.id AND t.kind IN {PAY} AND {LIVE}), 0) END AS outstanding,
  COALESCE((SELECT SUM(i.interest_fen) FROM lending_installments i WHERE i.loan_id = l.id), 0)
   - COALESCE((SELECT SUM(t.interest_fen) FROM lending_loan_transactions t
               WHERE t.loan_id = l.id AND t.kind IN {PAY} AND {LIVE}), 0) AS interest_left,
  (SELECT MIN(i.due_date) FROM lending_installments i
    WHERE i.loan_id = l.id AND i.due_date < :d
      AND i.principal_fen + i.interest_fen + i.fee_fen <> 0
      AND (i.paid_date IS NULL OR i.paid_date > :d)) AS oldest_due
FROM lending_loans l
WHERE EXISTS (SELECT 1 FROM lending_loan_transactions t
              WHERE t.loan_id = l.id AND t.kind = 'disbursement' AND {LIVE})
"""


def independent(conn: Connection) -> dict[str, object]:
    p = {"d": D}
    rows = [
        {**r, "oldest_due": r["oldest_due"] and date.fromisoformat(str(r["oldest_due"]))}
        for r in conn.execute(text(POSITIONS), p).mappings().all()
    ]
    out = [r for r in rows if r["outstanding"] > 0]
    total = sum(r["outstanding"] for r in out)
    related = set(conn.execute(text("SELECT customer_id FROM related_parties")).scalars())
    by_borrower = (
        conn.execute(
            text(
                f"SELECT SUM(outstanding) AS owed FROM ({POSITIONS}) pos WHERE outstanding > 0 "
                "GROUP BY customer_id ORDER BY owed DESC"
            ),
            p,
        )
        .scalars()
        .all()
    )

    def ratio(a: int, b: int) -> str:
        return str((Decimal(a) / Decimal(b)).quantize(Decimal("0.000001"), ROUND_HALF_UP))

    day_us = cut_off(PERIOD)[1]
    lenders = conn.execute(
        text(
            """
            SELECT
              (SELECT COUNT(DISTINCT lender_id) FROM mkt_notes WHERE acquired_at <= :us),
              (SELECT COALESCE(SUM(amount_fen), 0) FROM mkt_compensations
               WHERE business_date <= :d),
              (SELECT COUNT(DISTINCT loan_id) FROM mkt_compensations WHERE business_date <= :d)
            """
        ),
        {"us": day_us, "d": D},
    ).one()
    live_loans = {r["loan_id"] for r in out}
    held = conn.execute(
        text(
            """
            SELECT n.lender_id, n.loan_id FROM mkt_notes n
            WHERE n.acquired_at <= :us
              AND NOT EXISTS (SELECT 1 FROM mkt_notes c
                              WHERE c.parent_note_id = n.id AND c.acquired_at <= :us)
              AND NOT EXISTS (SELECT 1 FROM mkt_compensations m
                              WHERE m.note_id = n.id AND m.business_date <= :d)
            """
        ),
        {"us": day_us, "d": D},
    ).all()
    overdue = [r for r in out if r["oldest_due"] is not None and r["oldest_due"] < D]
    over90 = [r for r in overdue if (D - r["oldest_due"]).days > 90]
    return {
        "cum_loan_amount": sum(r["principal"] for r in rows),
        "cum_loan_count": len(rows),
        "outstanding_principal": total,
        "outstanding_count": len(out),
        "outstanding_interest": sum(max(r["interest_left"], 0) for r in out),
        "cum_lenders": lenders[0],
        "cum_borrowers": len({r["customer_id"] for r in rows}),
        "current_lenders": len({lender for lender, loan in held if loan in live_loans}),
        "current_borrowers": len({r["customer_id"] for r in out}),
        "top10_borrower_share": ratio(sum(by_borrower[:10]), total),
        "top1_borrower_share": ratio(by_borrower[0], total),
        "related_party_outstanding": sum(
            r["outstanding"] for r in out if r["customer_id"] in related
        ),
        "related_party_count": sum(1 for r in out if r["customer_id"] in related),
        "overdue_amount": sum(r["outstanding"] for r in overdue),
        "overdue_count": len(overdue),
        "overdue_90_amount": sum(r["outstanding"] for r in over90),
        "overdue_90_count": len(over90),
        "cum_compensated_amount": lenders[1],
        "cum_compensated_count": lenders[2],
    }


def test_every_figure_matches_independent_sql_and_hand_counts(engine, clock):
    with engine.begin() as conn:
        book = build(conn, clock)
        figures = monthly_figures(conn, period=PERIOD)
        expected = independent(conn)
        # The E loan's first installment is paid: what principal it took is in the book.
        e_paid = conn.execute(
            text(
                "SELECT COALESCE(SUM(principal_fen), 0) FROM lending_loan_transactions "
                "WHERE loan_id = :id AND kind = 'repayment'"
            ),
            {"id": book.loans["E"]},
        ).scalar()
    items = figures.items
    assert list(items) == list(ITEM_CODES) and missing_items(items) == []
    assert figures.as_of == "2026-10-31T23:59:59+08:00"
    for code, value in expected.items():
        assert items[code] == value, code

    # Hand counts: 14 loans by the cut-off (F is after it), S settled.
    small = sum(100_000 + 10_000 * k for k in range(6))  # 750,000
    assert items["cum_loan_count"] == 14
    assert (
        items["cum_loan_amount"]
        == 1_000_000 + 900_000 + 200_000 + 500_000 + 150_000 + 120_000 + small
    )
    assert items["outstanding_count"] == 13
    assert 0 < e_paid < 150_000
    assert (
        items["outstanding_principal"]
        == 1_000_000 + 900_000 + 200_000 + 500_000 + (150_000 - e_paid) + small
    )
    assert items["cum_borrowers"] == 12 and items["current_borrowers"] == 11  # A once; S settled
    # Largest borrower is A (three loans, 1,000,000), not B's single 900,000 loan.
    total = items["outstanding_principal"]
    assert items["top1_borrower_share"] == str(
        (Decimal(1_000_000) / total).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    )
    smallest = 100_000  # of the 11 current borrowers, H1 is the one outside the top 10
    assert items["top10_borrower_share"] == str(
        (Decimal(total - smallest) / total).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    )
    assert (items["related_party_count"], items["related_party_outstanding"]) == (
        1,
        150_000 - e_paid,
    )
    # Overdue: B (day 90), C (day 91), D (day 108); over 90 strictly: C and D.
    assert (items["overdue_count"], items["overdue_amount"]) == (3, 1_600_000)
    assert (items["overdue_90_count"], items["overdue_90_amount"]) == (2, 700_000)
    # Lenders: X, Y, Z, V (W bought after the cut-off); current X, Y, V (Z sold, X on D
    # compensated but still holds B).
    assert (items["cum_lenders"], items["current_lenders"]) == (4, 3)
    assert (items["cum_compensated_amount"], items["cum_compensated_count"]) == (260_000, 1)
    assert items["outstanding_interest"] > 0
    assert items["fee_schedule"]["borrower"][0]["product"] == "XFD"
    assert items["other_info"]["project_overdue_rate"] == str(
        (Decimal(3) / 13).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    )


def test_an_empty_book_reports_zeros_not_nulls(engine):
    with engine.connect() as conn:
        items = monthly_figures(conn, period="2026-10").items
    assert missing_items(items) == []
    assert items["cum_loan_count"] == 0 and items["top10_borrower_share"] == "0.000000"
