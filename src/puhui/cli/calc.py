"""``puhui calc``: repayment schedules and the true annual rate (IRR), without a database.

Every number option is read as text and checked by the same validation the services use, so
bad input ends with one line ``error: code: message (field)`` and exit code 2.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from puhui.cli.common import console, run
from puhui.core.clock import SYSTEM_CLOCK, business_date
from puhui.core.errors import ValidationError
from puhui.core.money import format_fen, parse_yuan
from puhui.core.rates import format_percent, parse_rate
from puhui.lending.apr import LABEL, AnnualRates, DatedRates, dated_rates, schedule_rates
from puhui.lending.dates import DayCount
from puhui.lending.schedules import LoanTerms, Schedule, build_schedule

app = typer.Typer(
    help="Loan calculators: repayment schedules and the annual rate by IRR.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DayCountOption = Annotated[str, typer.Option("--day-count", help="ACT/360 or ACT/365.")]


def _required(value: str | None, option: str) -> str:
    if value is None:
        raise ValidationError("missing_option", f"{option} is required", field=option)
    return value


def parse_int(text: str, *, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValidationError(
            f"{field}_not_integer", f"{text!r} is not a whole number", field=field
        ) from None


def parse_date(text: str, *, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            "date_invalid", f"{text!r} is not a date (YYYY-MM-DD)", field=field
        ) from None


def rates_json(rates: AnnualRates | None) -> dict[str, Any]:
    return {
        "annual_rate_irr": None if rates is None else str(rates.annual_rate_irr),
        "effective_annual_rate": None if rates is None else str(rates.effective_annual_rate),
    }


def schedule_json(schedule: Schedule, rates: AnnualRates) -> dict[str, Any]:
    """The ``--json`` shape: amounts in integer fen, rates as decimal strings."""
    return {
        "installments": [
            {
                "period": line.period,
                "due_date": line.due_date.isoformat(),
                "principal_fen": line.principal_fen,
                "interest_fen": line.interest_fen,
                "fee_fen": line.fee_fen,
                "total_fen": line.total_fen,
                "remaining_principal_fen": line.remaining_principal_fen,
            }
            for line in schedule.installments
        ],
        "total_interest_fen": schedule.total_interest_fen,
        "total_fee_fen": schedule.total_fee_fen,
        **rates_json(rates),
    }


def _print_rates(rates: AnnualRates) -> None:
    console.print(
        f"{LABEL}: {format_percent(rates.annual_rate_irr)}  "
        f"(periodic IRR {format_percent(rates.periodic_rate, 4)} × "
        f"{rates.periods_per_year.normalize():f} periods a year)",
        markup=False,
        soft_wrap=True,
    )
    console.print(
        f"effective annual rate (compounded): {format_percent(rates.effective_annual_rate)}",
        markup=False,
        soft_wrap=True,
    )


def _print_schedule(schedule: Schedule, rates: AnnualRates) -> None:
    table = Table("period", "due date", "principal", "interest", "fee", "total", "remaining")
    for line in schedule.installments:
        table.add_row(
            str(line.period),
            line.due_date.isoformat(),
            *(
                format_fen(v, grouping=True)
                for v in (
                    line.principal_fen,
                    line.interest_fen,
                    line.fee_fen,
                    line.total_fen,
                    line.remaining_principal_fen,
                )
            ),
        )
    console.print(table)
    terms = schedule.terms
    console.print(
        f"principal {format_fen(terms.principal_fen, grouping=True)}, "
        f"interest {format_fen(schedule.total_interest_fen, grouping=True)}, "
        f"fees {format_fen(schedule.total_fee_fen, grouping=True)} "
        f"(upfront {format_fen(terms.upfront_fee_fen, grouping=True)}, paid separately)",
        markup=False,
        soft_wrap=True,
    )
    _print_rates(rates)


@app.command("schedule")
def schedule_cmd(
    principal: Annotated[
        str | None, typer.Option(metavar="YUAN", help="Principal in yuan, e.g. 10000.00.")
    ] = None,
    annual_rate: Annotated[
        str | None,
        typer.Option("--annual-rate", metavar="RATE", help="Annual rate, 0.12 for 12%."),
    ] = None,
    term: Annotated[
        str | None, typer.Option(metavar="N", help="Number of months (or days, see --term-unit).")
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="equal_installment (等额本息), equal_principal (等额本金), "
            "interest_only (先息后本) or bullet (一次性还本付息)."
        ),
    ] = None,
    term_unit: Annotated[str, typer.Option("--term-unit", help="month or day.")] = "month",
    start: Annotated[
        str | None, typer.Option(metavar="DATE", help="Start date (default today).")
    ] = None,
    day_count: DayCountOption = "ACT/360",
    repayment_day: Annotated[
        str | None,
        typer.Option("--repayment-day", metavar="DAY", help="Fixed day of the month (1–31)."),
    ] = None,
    upfront_fee: Annotated[
        str, typer.Option("--upfront-fee", metavar="YUAN", help="Fee paid at disbursement.")
    ] = "0",
    period_fee: Annotated[
        str, typer.Option("--period-fee", metavar="YUAN", help="Fee with every installment.")
    ] = "0",
    as_json: JsonOption = False,
) -> None:
    """Print a loan's repayment schedule and its annual rate by IRR.

    --principal, --annual-rate, --term and --method are required.
    """

    def build() -> tuple[Schedule, AnnualRates]:
        terms = LoanTerms(
            principal_fen=parse_yuan(
                _required(principal, "--principal"), field="principal", allow_zero=False
            ),
            annual_rate=parse_rate(_required(annual_rate, "--annual-rate")),
            term=parse_int(_required(term, "--term"), field="term"),
            method=_required(method, "--method"),
            start=(
                business_date(SYSTEM_CLOCK.now())
                if start is None
                else parse_date(start, field="start")
            ),
            term_unit=term_unit,
            day_count=day_count,
            repayment_day=(
                None if repayment_day is None else parse_int(repayment_day, field="repayment_day")
            ),
            upfront_fee_fen=parse_yuan(upfront_fee, field="upfront_fee"),
            period_fee_fen=parse_yuan(period_fee, field="period_fee"),
        )
        schedule = build_schedule(terms)
        return schedule, schedule_rates(schedule)

    schedule, rates = run(build)
    if as_json:
        typer.echo(json.dumps(schedule_json(schedule, rates), ensure_ascii=False))
    else:
        _print_schedule(schedule, rates)


def parse_flow(text: str) -> tuple[date, int]:
    """``2026-01-15:-99000.00`` → (date, fen)."""
    day, sep, amount = text.partition(":")
    if not sep:
        raise ValidationError(
            "flow_invalid",
            f"{text!r} is not DATE:AMOUNT (e.g. 2026-01-15:-99000.00)",
            field="flow",
        )
    return parse_date(day, field="flow"), parse_yuan(amount, field="flow", allow_negative=True)


def dated_json(rates: DatedRates) -> dict[str, Any]:
    regular = rates.regular
    return {
        "xirr": str(rates.xirr),
        "day_count": rates.day_count.value,
        **rates_json(regular),
        "periodic_rate": None if regular is None else str(regular.periodic_rate),
        "periods_per_year": None if regular is None else str(regular.periods_per_year),
    }


@app.command("apr")
def apr_cmd(
    flows: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DATE:AMOUNT...",
            help="Dated cash flows in yuan, money received and paid with opposite signs, "
            "e.g. 2026-01-15:99000.00 2026-02-15:-8833.30 …",
        ),
    ] = None,
    day_count: DayCountOption = "ACT/365",
    as_json: JsonOption = False,
) -> None:
    """Print the IRR-based annual rates of dated cash flows.

    Always the XIRR (effective annual rate by day count); when the flows fall every month (or
    every few months) from the first date, also the periodic IRR × periods a year (年化利率,
    按内部收益率法) and its effective rate.
    """

    def compute() -> DatedRates:
        parsed = [parse_flow(f) for f in flows or []]
        if len(parsed) < 2:
            raise ValidationError(
                "irr_needs_flows", "give at least two DATE:AMOUNT flows", field="flow"
            )
        try:
            count = DayCount(day_count)
        except ValueError:
            raise ValidationError(
                "unknown_day_count", f"{day_count!r} is not ACT/360 or ACT/365", field="day_count"
            ) from None
        return dated_rates(parsed, day_count=count)

    rates = run(compute)
    if as_json:
        typer.echo(json.dumps(dated_json(rates)))
        return
    console.print(
        f"XIRR ({rates.day_count.value}, effective annual): {format_percent(rates.xirr)}",
        markup=False,
        soft_wrap=True,
    )
    if rates.regular is not None:
        _print_rates(rates.regular)
