"""``puhui demo`` and ``puhui sim``: a simulated platform in one command.

``demo`` makes ./puhui.db (SQLite), seeds it, lives 90 days ending today, prints what happened
and the logins to try, then serves the web app and API. ``sim`` does the same at any scale on
any database without serving, for benchmarks. Both are deterministic for a seed.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from puhui.cli import serve as serve_cli
from puhui.cli.common import console, err_console, open_engine, run
from puhui.compliance.disclosure import MONEY_ITEMS
from puhui.core.clock import SYSTEM_CLOCK, business_date
from puhui.core.money import format_fen
from puhui.db.engine import database_url
from puhui.identity.crypto import Keyring
from puhui.lending.models import products
from puhui.sim.run import Progress as Report
from puhui.sim.run import Result
from puhui.sim.run import run as simulate
from puhui.sim.seed import PRODUCT_CODE
from puhui.sim.summary import BUCKETS, Summary
from puhui.sim.world import DEFAULT_START, SimConfig

DEMO_URL = "sqlite:///puhui.db"

SeedOption = Annotated[int, typer.Option(help="Random seed: the same seed, the same book.")]
DaysOption = Annotated[int, typer.Option(min=1, help="Days to simulate.")]
BorrowersOption = Annotated[int, typer.Option(min=0, help="Borrowers to create.")]
InvestorsOption = Annotated[int, typer.Option(min=0, help="Investors to create.")]
MarketplaceOption = Annotated[
    bool,
    typer.Option(
        "--marketplace/--no-marketplace",
        help="Simulate the lending marketplace too: listings, bids, auto-invest, claim"
        " transfers, distribution (its money reaches the custody bank as queued instructions).",
    ),
]
StatementDir = Annotated[
    Path, typer.Option("--statement-dir", help="Where the custody statements are kept.")
]

PHASES = {
    "company": "products, staff, capital",
    "customers": "customers (bulk)",
    "investors": "investor accounts",
    "days": "days",
}


def _progress() -> tuple[Progress, Report]:
    bar = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    tasks: dict[str, int] = {}

    def report(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(PHASES.get(phase, phase), total=max(total, 1))
        bar.update(tasks[phase], completed=done, total=max(total, 1))

    return bar, report


def _is_demo(engine: Engine) -> bool:
    """Whether the database holds the demo's product (read only: nothing is migrated; a file
    that is no database at all is not a demo one)."""
    try:
        if not inspect(engine).has_table(products.name):
            return False
        with engine.connect() as c:
            found = c.execute(
                select(func.count()).select_from(products).where(products.c.code == PRODUCT_CODE)
            ).scalar_one()
    except DatabaseError:
        return False
    return bool(found)


def _is_empty(engine: Engine) -> bool:
    with engine.connect() as c:
        return not c.execute(select(func.count()).select_from(products)).scalar_one()


def _remove_sqlite(url: str) -> None:
    path = make_url(url).database
    if path and path != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)


def _fresh_demo_database(url: str, force: bool) -> Engine:
    """./puhui.db made anew: an earlier demo's is replaced, anything else only with --force."""
    path = Path(make_url(url).database or "")
    if path.exists():
        engine = open_engine(url, migrate=False)
        demo = _is_demo(engine)
        engine.dispose()
        if not demo and not force:
            err_console.print(
                f"error: {path} exists and is not a demo database; move it away or pass --force"
            )
            raise typer.Exit(2)
        _remove_sqlite(url)
    return open_engine(url)


def _disclosure_rows(t: Table, disclosed: dict[str, Any]) -> None:
    """The latest published monthly report (月度运营信息), as /m/disclosure shows it."""
    if not disclosed:
        t.add_row("monthly disclosure", "none published yet")
        return
    late = ", late" if disclosed["late"] else ""
    t.add_row(
        "monthly disclosure",
        f"{disclosed['period']} v{disclosed['version']} (due {disclosed['deadline']}{late})",
    )
    for code, value in disclosed["items"].items():
        shown = format_fen(value, grouping=True) if code in MONEY_ITEMS else str(value)
        t.add_row(f"  {code.replace('_', ' ')}", shown)


def print_summary(s: Summary, seconds: float) -> None:
    t = Table(title=f"{s.days} simulated days to {s.last_date} ({seconds:.1f} s)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("customers", f"{s.customers:,}")
    t.add_row("applications", ", ".join(f"{k} {v}" for k, v in s.applications.items()) or "0")
    t.add_row("loans", ", ".join(f"{k} {v}" for k, v in s.loans.items()) or "0")
    t.add_row("disbursed (yuan)", format_fen(s.disbursed_fen, grouping=True))
    t.add_row("principal outstanding (yuan)", format_fen(s.outstanding_fen, grouping=True))
    for title, figures in (("credit lines", s.credit_lines), ("marketplace", s.marketplace)):
        if figures:
            t.add_row(title, "")
        for name, n in figures.items():
            fen = name.endswith("_fen")
            label = name.removesuffix("_fen").replace("_", " ") + (" (yuan)" if fen else "")
            t.add_row(f"  {label}", format_fen(n, grouping=True) if fen else f"{n:,}")
    for b in BUCKETS[1:]:
        t.add_row(f"overdue {b} (share of outstanding)", f"{s.overdue_rates[b]:.2%}")
    debits, credits = s.trial_balance
    t.add_row(
        "GL trial balance (yuan)",
        f"Dr {format_fen(debits, grouping=True)} = Cr {format_fen(credits, grouping=True)}"
        if debits == credits
        else f"UNBALANCED Dr {format_fen(debits)} Cr {format_fen(credits)}",
    )
    t.add_row("sub-ledger = GL", "yes" if not s.subledger_differences else "NO")
    t.add_row(
        "ledger verify", "ok" if not s.ledger_problems else f"{len(s.ledger_problems)} problems"
    )
    t.add_row("audit verify", "ok" if not s.audit_problems else f"{len(s.audit_problems)} problems")
    t.add_row("reconciliation", "clean" if not s.open_breaks else f"{s.open_breaks} open breaks")
    t.add_row(
        "compliance check",
        "no breach"
        if not s.compliance_alerts
        else ", ".join(f"{rule} {n}" for rule, n in s.compliance_alerts.items()),
    )
    _disclosure_rows(t, s.disclosure)
    for name, n in s.counts.items():
        t.add_row(name.replace("_", " "), f"{n:,}")
    console.print(t)
    if s.missing_steps:
        console.print("not simulated yet: " + "; ".join(s.missing_steps), markup=False)


def print_logins(result: Result) -> None:
    """One line per login, unabridged, so it can be copied whatever the terminal's width."""
    console.print("demo logins (demo-only credentials, derived from the seed):", markup=False)
    for login in result.world.logins:
        totp = f"  TOTP secret {login.totp_secret}" if login.totp_secret else ""
        console.print(
            f"  {login.role:<22} {login.username:<28} {login.password}{totp}",
            markup=False,
            soft_wrap=True,
        )
    console.print(
        "Staff sign in at /admin with the TOTP code of their secret (an authenticator app, or "
        "`.venv/bin/python -c \"import pyotp; print(pyotp.TOTP('SECRET').now())\"`). "
        "Every simulated customer shares the customer password shown; a customer's sign-in "
        "also needs a one-time SMS code, which the sandbox SMS sender keeps instead of sending.",
        markup=False,
        soft_wrap=True,
    )


def _simulate(config: SimConfig, engine: Engine) -> tuple[Result, float]:
    bar, report = _progress()
    started = time.perf_counter()
    with bar:
        result = simulate(config, engine, Keyring.from_env(), progress=report)
    return result, time.perf_counter() - started


def demo(
    days: DaysOption = 90,
    seed: SeedOption = 7,
    borrowers: BorrowersOption = 300,
    investors: InvestorsOption = 100,
    force: Annotated[
        bool, typer.Option("--force", help="Replace ./puhui.db even if it is not a demo one.")
    ] = False,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the web app and API afterwards.")
    ] = True,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    statement_dir: StatementDir = Path("statements"),
    marketplace: MarketplaceOption = True,
) -> None:
    """Create ./puhui.db, simulate DAYS days ending today, print the figures and the logins,
    then serve the web app and API at http://127.0.0.1:8000."""
    engine = _fresh_demo_database(DEMO_URL, force)
    start = business_date(SYSTEM_CLOCK.now()) - timedelta(days=days)
    config = SimConfig(
        seed=seed,
        days=days,
        borrowers=borrowers,
        investors=investors,
        start=start,
        statement_dir=statement_dir,
        marketplace=marketplace,
    )
    result, seconds = _simulate(config, engine)
    engine.dispose()
    print_summary(result.summary, seconds)
    print_logins(result)
    if serve:
        console.print(f"serving http://127.0.0.1:{port} (API docs at /docs); Ctrl-C stops")
        # No SMS gateway on a laptop: one-time codes (register, sign in by code) go to the log.
        os.environ.setdefault("PUHUI_SMS", "log")
        console.print(
            "one-time SMS codes appear in this terminal as 'sandbox SMS to …' lines",
            markup=False,
        )
        serve_cli.serve(host="127.0.0.1", port=port, workers=1, database=DEMO_URL)


def sim(
    days: DaysOption = 30,
    borrowers: BorrowersOption = 1_000,
    investors: InvestorsOption = 100,
    seed: SeedOption = 7,
    start: Annotated[
        str, typer.Option(help="First business day, YYYY-MM-DD.")
    ] = DEFAULT_START.isoformat(),
    database: Annotated[
        str | None,
        typer.Option(
            "--database", envvar="PUHUI_DATABASE_URL", help="Database URL (it must hold no data)."
        ),
    ] = None,
    apply_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Daily chance that a borrower owing nothing applies."),
    ] = SimConfig.apply_rate,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    statement_dir: StatementDir = Path("statements"),
    bulk: Annotated[
        bool | None,
        typer.Option(
            "--bulk/--no-bulk",
            help="Originate the opening book set-based (default: from 10,000 borrowers).",
        ),
    ] = None,
    marketplace: MarketplaceOption = True,
) -> None:
    """Seed an empty database and simulate DAYS days without serving (benchmarks)."""
    url = database_url(database)
    engine = run(lambda: open_engine(url))
    if not _is_empty(engine):
        err_console.print("error: the database already holds a platform; give an empty one")
        raise typer.Exit(2)
    config = SimConfig(
        seed=seed,
        days=days,
        borrowers=borrowers,
        investors=investors,
        start=date.fromisoformat(start),
        apply_rate=apply_rate,
        statement_dir=statement_dir,
        book_at_start=bulk,
        marketplace=marketplace,
    )
    result, seconds = _simulate(config, engine)
    engine.dispose()
    if as_json:
        out = result.summary.as_dict() | {"seconds": round(seconds, 2), "digest": result.digest}
        typer.echo(json.dumps(out, ensure_ascii=False, default=str))
    else:
        print_summary(result.summary, seconds)
        console.print(f"book digest {result.digest}")
    if not result.summary.passed:
        raise typer.Exit(1)
