"""``puhui product`` through typer's CliRunner, on a real database."""

import json
import textwrap

from typer.testing import CliRunner

from puhui.cli import app
from puhui.cli import product as product_cli

runner = CliRunner()

#: The example file of the command's own documentation, at 16% a year.
PRODUCT = textwrap.dedent(product_cli.__doc__.split("::", 1)[1])
assert 'max_annual_rate = "0.16"' in PRODUCT


def at_rate(rate: str) -> str:
    return PRODUCT.replace('max_annual_rate = "0.16"', f'max_annual_rate = "{rate}"')


def test_create_version_show_list(tmp_path, database_url_for_test):
    db = ["--database", database_url_for_test]
    path = tmp_path / "xfd.toml"
    path.write_text(PRODUCT, encoding="utf-8")
    created = runner.invoke(app, ["product", "create", str(path), *db, "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["version"] == 1

    path.write_text(at_rate("0.20"), encoding="utf-8")
    refused = runner.invoke(app, ["product", "version", str(path), *db])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: annual_rate_above_cap: the all-in annual rate")

    path.write_text(at_rate("0.12"), encoding="utf-8")
    assert runner.invoke(app, ["product", "version", str(path), *db]).exit_code == 0

    shown = runner.invoke(app, ["product", "show", "XFD-12", "--version", "1", "--json", *db])
    data = json.loads(shown.stdout)
    assert data["terms"]["max_annual_rate"] == "0.16" and data["cap_rate"] == "0.24"
    listed = runner.invoke(app, ["product", "list", *db])
    assert listed.exit_code == 0 and "XFD-12" in listed.stdout


def test_json_files_and_bad_files(tmp_path, database_url_for_test):
    db = ["--database", database_url_for_test]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"code": "D7", "name": "7天", "terms": {"mode": "direct"}}))
    result = runner.invoke(app, ["product", "create", str(path), *db])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: missing_field:")
    path.write_text("{not json")
    result = runner.invoke(app, ["product", "create", str(path), *db])
    assert result.stderr.startswith("error: product_file_unreadable:")
    result = runner.invoke(app, ["product", "show", "NOPE", *db])
    assert result.exit_code == 2 and result.stderr.startswith("error: product_not_found:")
