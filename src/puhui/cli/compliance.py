"""Disclosure, compliance checks, AML and the regulator feed on the command line.

``puhui disclose --month 2026-10 --format pdf`` writes the published report (``--preview``: the
figures as they stand now, unpublished; ``--publish``: publish first). ``puhui compliance check``
runs every rule and opens alerts; ``puhui aml ...`` works the AML queues; ``puhui regulator-feed``
writes the feed.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.compliance import alerts, aml, checks, feed, jobs, publication, reports
from puhui.compliance.disclosure import missing_items
from puhui.core.clock import SYSTEM_CLOCK, business_date
from puhui.core.errors import ValidationError
from puhui.db.engine import run_in_transaction

compliance_app = typer.Typer(help="Regulatory checks and their alerts.", no_args_is_help=True)
aml_app = typer.Typer(
    help="Anti-money-laundering reports, cases and the watch list.", no_args_is_help=True
)
CLI_ACTOR = "cli"


def _date(text: str | None) -> date:
    if text is None:
        return business_date(SYSTEM_CLOCK.now())
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            "date_invalid", f"{text!r} is not a date YYYY-MM-DD", field="date"
        ) from None


def _write(data: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)
        console.print(f"wrote {output} ({len(data)} bytes)")


def disclose(
    month: Annotated[str, typer.Option("--month", help="The period, YYYY-MM.")],
    fmt: Annotated[str, typer.Option("--format", help="html | json | csv | xlsx | pdf")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write.")] = None,
    version: Annotated[
        int | None, typer.Option(help="A published version (default latest).")
    ] = None,
    preview: Annotated[bool, typer.Option(help="The unpublished figures as they stand.")] = False,
    publish: Annotated[bool, typer.Option(help="Publish the month first.")] = False,
    correction: Annotated[
        str | None, typer.Option(help="Publish a correction: the reason.")
    ] = None,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            help="Compute the month's figures in partitions on `puhui worker` processes over "
            "the task queue (PUHUI_BROKER_URL, PUHUI_TASK_QUEUE); without --publish, a preview.",
        ),
    ] = False,
    partitions: Annotated[
        int, typer.Option(min=1, max=1024, help="With --distributed: how many partitions.")
    ] = 4,
    database: DatabaseOption = None,
) -> None:
    """The monthly operating report (月度运营信息) with trend charts, as a file."""
    if fmt not in reports.FORMATS:
        run(lambda: reports.render(fmt, {}, None))  # the format error, as one line
    engine = open_engine(database)
    figures = None
    if distributed:
        from puhui.cli.worker import distributed_disclosure

        figures = distributed_disclosure(engine, month, partitions)
        preview = preview or not (publish or correction)
    if publish or correction:
        run(
            lambda: run_in_transaction(
                engine,
                lambda c: publication.publish(
                    c,
                    period=month,
                    published_by=CLI_ACTOR,
                    clock=SYSTEM_CLOCK,
                    correction_reason=correction,
                    snapshot=None
                    if figures is None
                    else publication.build_snapshot(c, period=month, figures=figures),
                ),
            )
        )
    if preview:
        with engine.connect() as c:
            snap = run(lambda: publication.build_snapshot(c, period=month, figures=figures))
        meta = {"version": None, "preview": True, "missing": missing_items(snap["items"])}
    else:
        with engine.connect() as c:
            p = run(lambda: publication.latest(c, period=month, version=version))
        snap = p.snapshot
        meta = {
            "version": p.version,
            "content_sha256": p.content_sha256,
            "published_at": p.published_at.isoformat(),
            "deadline": p.deadline.isoformat(),
            "late": p.late,
            "correction_reason": p.correction_reason,
        }
    if fmt == "html":
        from puhui.web.disclosure import standalone_html

        data = standalone_html(snap, meta).encode("utf-8")
    else:
        data = reports.render(fmt, snap, meta)
    _write(data, output)


@compliance_app.command("check")
def check_cmd(
    on: Annotated[str | None, typer.Option("--date", help="Business date (default today).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Run every software-checkable rule; breaches open alerts for compliance staff."""
    engine = open_engine(database)
    result = run(lambda: checks.run_checks(engine, clock=SYSTEM_CLOCK, business_date_=_date(on)))
    table = Table("rule", "subject", "detail", title=f"compliance check {result.business_date}")
    for f in result.findings:
        table.add_row(f.rule_id, f.subject, f.detail)
    console.print(table)
    console.print(f"{len(result.findings)} finding(s), {result.new_alerts} new alert(s)")
    if result.findings:
        raise typer.Exit(1)


@compliance_app.command("daily")
def daily_cmd(
    on: Annotated[str | None, typer.Option("--date", help="Business date (default today).")] = None,
    database: DatabaseOption = None,
) -> None:
    """The daily step: AML monitors for the day, then every check."""
    engine = open_engine(database)
    out = run(lambda: jobs.daily(engine, business_date_=_date(on), clock=SYSTEM_CLOCK))
    console.print_json(json.dumps(out, default=str))


@compliance_app.command("alerts")
def alerts_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Open compliance alerts."""
    engine = open_engine(database)
    with engine.connect() as c:
        found = alerts.list_alerts(c, status=None if all_ else "open")
    table = Table("id", "rule", "subject", "status", "opened", "detail")
    for a in found:
        table.add_row(str(a.id), a.rule_id, a.subject, a.status, a.opened_at.isoformat(), a.detail)
    console.print(table)


@aml_app.command("scan")
def aml_scan_cmd(
    on: Annotated[str | None, typer.Option("--date", help="Business date (default today).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Large-value reports and suspicious-pattern monitors for a day."""
    engine = open_engine(database)
    out = run(
        lambda: run_in_transaction(
            engine, lambda c: aml.run_monitors(c, day=_date(on), clock=SYSTEM_CLOCK)
        )
    )
    console.print_json(json.dumps(out))


@aml_app.command("cases")
def aml_cases_cmd(
    status: Annotated[str | None, typer.Option(help="open | reviewing | confirmed | ...")] = None,
    database: DatabaseOption = None,
) -> None:
    """Suspicious-transaction cases."""
    engine = open_engine(database)
    with engine.connect() as c:
        found = aml.list_cases(c, status=status)
    table = Table("id", "rule", "subject", "status", "customers", "due")
    for k in found:
        table.add_row(
            str(k.id),
            k.rule,
            k.subject,
            k.status,
            ",".join(map(str, k.customer_ids)),
            str(k.due_date or ""),
        )
    console.print(table)


@aml_app.command("review")
def aml_review_cmd(case_id: int, reasoning: str, database: DatabaseOption = None) -> None:
    """Record the analyst's reasoning on a case."""
    engine = open_engine(database)
    k = run(
        lambda: run_in_transaction(
            engine,
            lambda c: aml.review_case(
                c, case_id=case_id, reasoning=reasoning, by=CLI_ACTOR, clock=SYSTEM_CLOCK
            ),
        )
    )
    console.print(f"case {k.id}: {k.status}")


@aml_app.command("decide")
def aml_decide_cmd(
    case_id: int, decision: str, reason: str, database: DatabaseOption = None
) -> None:
    """Confirm or dismiss a reviewed case, with the reason."""
    engine = open_engine(database)
    k = run(
        lambda: run_in_transaction(
            engine,
            lambda c: aml.decide_case(
                c,
                case_id=case_id,
                decision=decision,
                reason=reason,
                by=CLI_ACTOR,
                clock=SYSTEM_CLOCK,
            ),
        )
    )
    console.print(f"case {k.id}: {k.status}" + (f", file by {k.due_date}" if k.due_date else ""))


@aml_app.command("file")
def aml_file_cmd(case_id: int, database: DatabaseOption = None) -> None:
    """Mark a confirmed case as filed with the regulator."""
    engine = open_engine(database)
    k = run(
        lambda: run_in_transaction(
            engine, lambda c: aml.file_case(c, case_id=case_id, by=CLI_ACTOR, clock=SYSTEM_CLOCK)
        )
    )
    console.print(f"case {k.id}: {k.status}")


@aml_app.command("export")
def aml_export_cmd(
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD.")],
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    database: DatabaseOption = None,
) -> None:
    """Large-value reports and confirmed cases of a period (format: docs/compliance.md)."""
    engine = open_engine(database)
    with engine.connect() as c:
        out = run(lambda: aml.export(c, start=_date(start), end=_date(end)))
    _write(json.dumps(out, ensure_ascii=False, indent=2, default=str).encode("utf-8"), output)


def regulator_feed(
    on: Annotated[str | None, typer.Option("--date", help="As at the end of this day.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    masked: Annotated[
        bool,
        typer.Option(help="Include masked names, ID numbers and phones (needs PUHUI_MASTER_KEY)."),
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """The regulator feed (docs/compliance.md gives its JSON schema)."""
    engine = open_engine(database)
    keys = None
    if masked:
        from puhui.identity.crypto import Keyring

        keys = run(Keyring.from_env)
    with engine.connect() as c:
        out = run(lambda: feed.build_feed(c, as_of=_date(on), keys=keys))
    _write(json.dumps(out, ensure_ascii=False, indent=2).encode("utf-8"), output)
