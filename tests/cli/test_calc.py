"""``puhui calc`` through typer's CliRunner."""

import json

import pytest
from typer.testing import CliRunner

from puhui.cli import app

runner = CliRunner()
SCHEDULE = ["calc", "schedule", "--principal", "10000.00", "--annual-rate", "0.12", "--term", "12"]


def assert_rates(output: str, nominal: str, effective: str) -> None:
    assert f"年化利率（按内部收益率法）: {nominal}" in output
    assert f"effective annual rate (compounded): {effective}" in output


def test_schedule_json_shape():
    result = runner.invoke(
        app,
        [
            *SCHEDULE,
            "--method",
            "equal_installment",
            "--start",
            "2026-01-15",
            "--upfront-fee",
            "100.00",
            "--period-fee",
            "5.00",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "installments",
        "total_interest_fen",
        "total_fee_fen",
        "annual_rate_irr",
        "effective_annual_rate",
    }
    first = data["installments"][0]
    assert first == {
        "period": 1,
        "due_date": "2026-02-15",
        "principal_fen": 78849,
        "interest_fen": 10000,
        "fee_fen": 500,
        "total_fen": 89349,
        "remaining_principal_fen": 921151,
    }
    assert len(data["installments"]) == 12
    assert data["installments"][-1]["remaining_principal_fen"] == 0
    assert data["total_interest_fen"] == 66188
    assert data["total_fee_fen"] == 10_000 + 12 * 500
    assert isinstance(data["annual_rate_irr"], str)
    assert data["annual_rate_irr"].startswith("0.149")  # 12% plus the fees
    assert data["effective_annual_rate"].startswith("0.160")


def test_schedule_table_shows_rates_with_the_method_label():
    result = runner.invoke(app, [*SCHEDULE, "--method", "equal_principal", "--start", "2026-01-31"])
    assert result.exit_code == 0, result.output
    assert "2026-02-28" in result.stdout
    assert_rates(result.stdout, "12.00%", "12.68%")


def test_schedule_in_days():
    result = runner.invoke(
        app,
        [
            "calc",
            "schedule",
            "--principal",
            "1000",
            "--annual-rate",
            "0.12",
            "--term",
            "30",
            "--term-unit",
            "day",
            "--method",
            "bullet",
            "--start",
            "2026-01-01",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    (line,) = json.loads(result.stdout)["installments"]
    assert (line["due_date"], line["interest_fen"]) == ("2026-01-31", 1000)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--principal", "-5.00"],
            "error: amount_negative: amount must not be negative (principal)",
        ),
        (["--term", "0"], "error: term_out_of_range: a term in months must be 1–360 (term)"),
        (
            ["--annual-rate", "10.5"],
            "error: rate_out_of_range: annual rate must be between 0 and 10 (annual_rate)",
        ),
        (["--method", "balloon"], "error: unknown_method: 'balloon' is not a method"),
        (["--principal", "1.234"], "error: amount_fractional_fen"),
        (["--term", "twelve"], "error: term_not_integer"),
        (["--start", "2026-02-30"], "error: date_invalid"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, line):
    base = {
        "--principal": "100",
        "--annual-rate": "0.1",
        "--term": "3",
        "--method": "equal_installment",
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = runner.invoke(app, ["calc", "schedule", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), result.stderr
    assert result.stdout == ""


def test_missing_option_is_one_line():
    result = runner.invoke(app, ["calc", "schedule", "--principal", "100"])
    assert result.exit_code == 2
    assert (
        result.stderr.strip() == "error: missing_option: --annual-rate is required (--annual-rate)"
    )


def _monthly(amount: str, payment: str) -> list[str]:
    """A flow on 15 January 2026 and twelve monthly payments after it."""
    year, month = 2026, 1
    flows = [f"{year}-{month:02d}-15:{amount}"]
    for _ in range(12):
        month += 1
        if month == 13:
            year, month = year + 1, 1
        flows.append(f"{year}-{month:02d}-15:{payment}")
    return flows


def test_apr_vector_b():
    result = runner.invoke(app, ["calc", "apr", *_monthly("99000.00", "-8833.30")])
    assert result.exit_code == 0, result.output
    assert_rates(result.stdout, "12.80%", "13.58%")
    assert "XIRR (ACT/365, effective annual): 13.6" in result.stdout


def test_apr_json_for_irregular_flows():
    result = runner.invoke(
        app,
        ["calc", "apr", "--json", "2026-01-01:-1000.00", "2026-01-01:10.00", "2026-04-17:1050.00"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["annual_rate_irr"] is None and data["day_count"] == "ACT/365"
    assert 0.2 < float(data["xirr"]) < 0.3


@pytest.mark.parametrize(
    ("flows", "code"),
    [
        (["2026-01-01:100"], "irr_needs_flows"),
        (["2026-01-01:100", "2026-02-01:50"], "irr_needs_both_signs"),
        (["2026-01-01=100", "2026-02-01:-50"], "flow_invalid"),
        (["2026-01-01:100", "2026-02-01:-5x"], "amount_not_a_number"),
    ],
)
def test_apr_bad_flows(flows, code):
    result = runner.invoke(app, ["calc", "apr", *flows])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {code}:")
    assert len(result.stderr.strip().splitlines()) == 1
