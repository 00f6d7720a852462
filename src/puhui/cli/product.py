"""``puhui product``: create, version, list and show loan products.

A product file is JSON or TOML (by extension); with a 1% fee at disbursement, this product's
highest all-in annual rate is 22.16% (on 3 months), within the 24% cap::

    code = "XFD-12"
    name = "消费贷"
    effective_from = 2026-01-01
    [terms]
    mode = "direct"
    method = "equal_installment"
    term_unit = "month"
    terms = [3, 6, 12]
    min_annual_rate = "0.08"
    max_annual_rate = "0.16"
    min_amount_fen = 100000
    max_amount_fen = 20000000
    regulatory_profile = "licensed_lender"
    upfront_fee_rate = "0.01"
"""

from __future__ import annotations

import json
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Connection

from puhui.cli.calc import parse_date
from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK, business_date
from puhui.core.errors import ValidationError
from puhui.core.money import format_fen
from puhui.core.rates import format_percent
from puhui.db.engine import run_in_transaction
from puhui.lending import products
from puhui.lending.product_terms import ProductTerms
from puhui.lending.products import ProductVersion

app = typer.Typer(help="Loan products and their versions.", no_args_is_help=True)

FileArgument = Annotated[Path, typer.Argument(help="Product file (.json or .toml).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def read_product_file(path: Path) -> dict[str, Any]:
    """The file's table; JSON or TOML by its extension."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ValidationError("product_file_unreadable", f"{path}: {exc}", field="file") from exc
    if not isinstance(data, dict) or not isinstance(data.get("terms"), dict):
        raise ValidationError(
            "product_file_invalid",
            f"{path}: expected a table with code, name and terms",
            field="file",
        )
    return data


def _effective_from(data: dict[str, Any]) -> date:
    value = data.get("effective_from")
    if value is None:
        return business_date(SYSTEM_CLOCK.now())
    return value if isinstance(value, date) else parse_date(str(value), field="effective_from")


def version_json(v: ProductVersion) -> dict[str, Any]:
    return {
        "version_id": v.version_id,
        "code": v.code,
        "name": v.name,
        "version": v.version,
        "effective_from": v.effective_from.isoformat(),
        "highest_annual_rate": str(v.highest_annual_rate),
        "highest_effective_rate": str(v.highest_effective_rate),
        "cap_rate": str(v.cap_rate),
        "cap_basis": v.cap_basis,
        "cap_config_version": v.cap_config_version,
        "terms": v.terms.to_mapping(),
    }


def _print_version(v: ProductVersion) -> None:
    t = v.terms
    console.print(
        f"{v.code} v{v.version} ({v.name}), effective {v.effective_from.isoformat()}: "
        f"{t.mode.value}, {t.method.value}, terms {', '.join(map(str, t.terms))} "
        f"{t.term_unit.value}(s), {format_fen(t.min_amount_fen, grouping=True)}–"
        f"{format_fen(t.max_amount_fen, grouping=True)} yuan, rate "
        f"{format_percent(t.min_annual_rate)}–{format_percent(t.max_annual_rate)}",
        markup=False,
        soft_wrap=True,
    )
    console.print(
        f"highest all-in 年化利率（按内部收益率法）: {format_percent(v.highest_annual_rate)} "
        f"(effective {format_percent(v.highest_effective_rate)}); cap "
        f"{format_percent(v.cap_rate)}: {v.cap_basis} [caps {v.cap_config_version}]",
        markup=False,
        soft_wrap=True,
    )


def _show(v: ProductVersion, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(version_json(v), ensure_ascii=False))
    else:
        _print_version(v)


def _save_from_file(file: Path, database: str | None, as_json: bool, *, new: bool) -> None:
    """Create the product a file describes (``new``) or add the file's terms as its next
    version, in one transaction, and show the result."""
    data = run(lambda: read_product_file(file))
    engine = open_engine(database)

    def work(conn: Connection) -> ProductVersion:
        common = {
            "code": data.get("code", ""),
            "terms": ProductTerms.from_mapping(data["terms"]),
            "effective_from": _effective_from(data),
            "clock": SYSTEM_CLOCK,
        }
        if new:
            return products.create_product(conn, name=data.get("name", ""), **common)
        return products.add_version(conn, **common)

    _show(run(lambda: run_in_transaction(engine, work)), as_json)


@app.command("create")
def create_cmd(
    file: FileArgument, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Create a product and its first version from a file."""
    _save_from_file(file, database, as_json, new=True)


@app.command("version")
def version_cmd(
    file: FileArgument, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Add a new version to the product the file names (by its code)."""
    _save_from_file(file, database, as_json, new=False)


@app.command("show")
def show_cmd(
    code: str,
    version: Annotated[int | None, typer.Option(help="Version (default the latest).")] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a product version with its rate assessment."""
    engine = open_engine(database)
    with engine.connect() as conn:
        found = run(lambda: products.get_product(conn, code=code, version=version))
    _show(found, as_json)


@app.command("list")
def list_cmd(
    limit: Annotated[int, typer.Option(help="At most this many (1–100).")] = 100,
    starting_after: Annotated[
        str | None, typer.Option("--starting-after", help="List codes after this one.")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """List products (latest version of each), by code."""
    engine = open_engine(database)
    with engine.connect() as conn:
        page = run(lambda: products.list_products(conn, limit=limit, starting_after=starting_after))
    table = Table("code", "version", "name", "method", "terms", "rates", "highest IRR", "cap")
    for v in page.items:
        t = v.terms
        table.add_row(
            v.code,
            str(v.version),
            v.name,
            t.method.value,
            f"{', '.join(map(str, t.terms))} {t.term_unit.value}",
            f"{format_percent(t.min_annual_rate)}–{format_percent(t.max_annual_rate)}",
            format_percent(v.highest_annual_rate),
            format_percent(v.cap_rate),
        )
    console.print(table)
    if page.has_more:
        console.print(f"more after {page.items[-1].code}: --starting-after {page.items[-1].code}")
