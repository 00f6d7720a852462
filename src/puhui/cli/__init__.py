"""The ``puhui`` command line (typer): one entry point, a sub-command per domain.

Each domain's commands live in their own module here and are mounted below, so the CLI stays a
thin layer: parse, open a transaction, call the domain service, print.
"""

from __future__ import annotations

import typer

from puhui.cli import calc as calc_cli
from puhui.cli import compliance as compliance_cli
from puhui.cli import credit as credit_cli
from puhui.cli import credit_line as credit_line_cli
from puhui.cli import custody as custody_cli
from puhui.cli import db as db_cli
from puhui.cli import demo as demo_cli
from puhui.cli import eod as eod_cli
from puhui.cli import identity as identity_cli
from puhui.cli import ledger as ledger_cli
from puhui.cli import loans as loans_cli
from puhui.cli import marketplace as marketplace_cli
from puhui.cli import open as open_cli
from puhui.cli import ops as ops_cli
from puhui.cli import product as product_cli
from puhui.cli import serve as serve_cli
from puhui.cli import worker as worker_cli

app = typer.Typer(
    name="puhui",
    help="puhui (普惠): online-lending platform. Every command takes --help.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_cli.app, name="db")
app.add_typer(calc_cli.app, name="calc")
app.add_typer(product_cli.app, name="product")
app.add_typer(ledger_cli.app, name="ledger")
app.command("serve")(serve_cli.serve)
app.command("worker")(worker_cli.worker)
app.command("eod")(eod_cli.eod)
app.add_typer(identity_cli.audit_app, name="audit")
app.add_typer(identity_cli.staff_app, name="staff")
app.add_typer(identity_cli.keys_app, name="keys")
app.command("reconcile")(custody_cli.reconcile_cmd)
app.add_typer(custody_cli.bank_app, name="bank")
app.add_typer(custody_cli.breaks_app, name="breaks")
app.add_typer(credit_cli.app, name="score")
app.add_typer(open_cli.partner_app, name="partner")
app.add_typer(open_cli.webhooks_app, name="webhooks")
app.add_typer(ops_cli.app, name="ops")
app.add_typer(loans_cli.app, name="loans")
app.add_typer(loans_cli.capital_app, name="capital")
app.add_typer(credit_line_cli.app, name="credit-line")
app.add_typer(marketplace_cli.app, name="market")
app.command("demo")(demo_cli.demo)
app.command("sim")(demo_cli.sim)
app.command("disclose")(compliance_cli.disclose)
app.add_typer(compliance_cli.compliance_app, name="compliance")
app.add_typer(compliance_cli.aml_app, name="aml")
app.command("regulator-feed")(compliance_cli.regulator_feed)


def main() -> None:
    app()
