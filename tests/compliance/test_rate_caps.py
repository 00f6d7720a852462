from datetime import date
from decimal import Decimal

import pytest

from puhui.compliance.rate_caps import (
    DEFAULT_CAP_CONFIG,
    CapConfig,
    Profile,
    load_cap_config,
    lpr_on,
    rate_cap,
)
from puhui.core.errors import ValidationError


@pytest.mark.parametrize(
    ("day", "lpr", "cap"),
    [
        (date(2020, 8, 20), "0.0385", "0.1540"),  # the first day of the 4 × LPR rule
        (date(2021, 12, 19), "0.0385", "0.1540"),
        (date(2021, 12, 20), "0.0380", "0.1520"),
        (date(2023, 8, 21), "0.0345", "0.1380"),
        (date(2024, 10, 20), "0.0335", "0.1340"),
        (date(2024, 10, 21), "0.0310", "0.1240"),
        (date(2025, 5, 19), "0.0310", "0.1240"),
        (date(2025, 5, 20), "0.0300", "0.1200"),
        (date(2027, 1, 1), "0.0300", "0.1200"),
    ],
)
def test_private_lending_cap_is_four_times_the_lpr_in_force(day, lpr, cap):
    assert lpr_on(day).rate == Decimal(lpr)
    found = rate_cap(profile="private_lending", contract_date=day)
    assert found.cap == found.hard_limit == Decimal(cap)
    assert "LPR" in found.basis
    assert found.config_version == DEFAULT_CAP_CONFIG.version


@pytest.mark.parametrize("profile", list(Profile))
def test_contracts_before_2020_08_20_use_the_old_bands(profile):
    cap = rate_cap(profile=profile, contract_date=date(2020, 8, 19))
    assert (cap.cap, cap.hard_limit) == (Decimal("0.24"), Decimal("0.36"))


def test_licensed_lender_policy_cap_and_hard_limit():
    cap = rate_cap(profile=Profile.LICENSED_LENDER, contract_date=date(2026, 1, 1))
    assert (cap.cap, cap.hard_limit) == (Decimal("0.24"), Decimal("0.36"))


def test_policy_cap_may_not_exceed_the_hard_limit():
    with pytest.raises(ValidationError, match="above the hard limit"):
        CapConfig(version="x", lpr=(), licensed_policy_cap=Decimal("0.37"))


def test_no_lpr_before_the_series_starts():
    with pytest.raises(ValidationError) as err:
        lpr_on(date(2019, 8, 19))
    assert err.value.code == "no_lpr_on_date"


def test_a_cap_file_updates_the_series_under_a_new_version(tmp_path):
    path = tmp_path / "caps.toml"
    path.write_text(
        'version = "2026-02-20"\n'
        'licensed_policy_cap = "0.20"\n'
        '[[lpr]]\nfrom = 2020-04-20\nrate = "0.0385"\n'
        '[[lpr]]\nfrom = 2026-02-20\nrate = "0.0290"\n',
        encoding="utf-8",
    )
    config = load_cap_config(path)
    assert config.version == "2026-02-20"
    private = rate_cap(profile="private_lending", contract_date=date(2026, 3, 1), config=config)
    assert private.cap == Decimal("0.1160") and private.config_version == "2026-02-20"
    licensed = rate_cap(profile="licensed_lender", contract_date=date(2026, 3, 1), config=config)
    assert licensed.cap == Decimal("0.20") and licensed.hard_limit == Decimal("0.36")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('licensed_policy_cap = "0.2"\n', "rate_caps_unversioned"),
        ('version = "v"\n[[lpr]]\nrate = "0.03"\n', "rate_caps_bad_lpr"),
        ('version = "v"\nlpr_multiple = 4.0\n', "rate_not_decimal"),
        ("version = ", "rate_caps_unreadable"),
    ],
)
def test_bad_cap_files_are_refused(tmp_path, text, code):
    path = tmp_path / "caps.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        load_cap_config(path)
    assert err.value.code == code
