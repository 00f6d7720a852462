"""绩效考核 benchmark: ``performance.monthly`` per advisor and per team over N investments.

    .venv/bin/python bench/ops_performance.py sqlite:////tmp/bench_ops.db 100000
    .venv/bin/python bench/ops_performance.py postgresql+psycopg://postgres@127.0.0.1/ops_bench

The investments are generated in one INSERT … SELECT (a recursive CTE): 200 advisors in 20
teams, about three investments per customer, a third of them in the month before, terms of
1–12 months. The database is migrated first; its ``ops_investments`` table is replaced.
"""

from __future__ import annotations

import sys
import time
from datetime import date

from sqlalchemy import text

from puhui.db.engine import make_engine
from puhui.db.migrate import upgrade
from puhui.ops import performance
from puhui.ops.scope import Viewer

FILL = (
    "INSERT INTO ops_investments (investment_ref, customer_id, advisor_id, team_id, channel_id, "
    "product_code, amount_fen, term_months, invested_on, matures_on, created_us) "
    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    "SELECT 'b' || i, i % (:n / 3 + 1), i % 200 + 1, i % 20 + 1, i % 50, 'P', "
    "100000 + (i % 977) * 100, 1 + i % 12, :d1, :d2, 0 FROM s"
)


def main(url: str, n: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as c:
        c.execute(text("DELETE FROM ops_investments"))
        c.execute(text(FILL), {"n": n, "d1": date(2026, 11, 3), "d2": date(2027, 5, 3)})
        c.execute(
            text("UPDATE ops_investments SET invested_on = :d WHERE id % 3 = 0"),
            {"d": date(2026, 10, 5)},
        )
    everyone = Viewer(0, "all", frozenset())
    for group in performance.GROUPS:
        start = time.perf_counter()
        with engine.connect() as c:
            rows = performance.monthly(c, month="2026-11", group=group, viewer=everyone)
        took = time.perf_counter() - start
        print(f"{group}: {len(rows)} rows over {n} investments in {took:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
