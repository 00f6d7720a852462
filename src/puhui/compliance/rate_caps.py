"""Legal caps on a loan's annual rate, as dated and versioned configuration.

Regulation §4. Which cap applies depends on who lends and when the contract is made:

* ``private_lending`` — private lending and loans matched on the marketplace (P2P): the rate
  may not exceed 4 × the one-year LPR in force on the contract date (SPC 2020 revision, in
  force 2020-08-20; RATE-CAP-01). The LPR comes from a dated table.
* ``licensed_lender`` — a micro-loan or consumer-finance company: a configurable policy cap,
  24% by default, never above the 36% hard limit (RATE-CAP-02).
* Any contract made before 2020-08-20 (a legacy import) is held to the old 24% / 36% bands
  (RATE-CAP-03): 24% is enforceable, above 36% is void.

Rates compared against these caps are IRR-based annual rates (``lending.apr``). Caps change
when the LPR moves, so every figure carries the configuration version that produced it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from puhui.core.errors import ValidationError
from puhui.core.rates import format_percent, parse_rate


class Profile(StrEnum):
    """The regulatory profile whose caps a product's loans must meet."""

    PRIVATE_LENDING = "private_lending"  # 民间借贷 and marketplace (P2P) loans: 4 × LPR
    LICENSED_LENDER = "licensed_lender"  # 小额贷款公司, 消费金融公司: 24% policy, 36% hard


@dataclass(frozen=True)
class LprFixing:
    """A one-year Loan Prime Rate, in force from ``effective_from`` until the next fixing."""

    effective_from: date
    rate: Decimal


@dataclass(frozen=True)
class CapConfig:
    """Every number the caps are made of, under one version label."""

    version: str
    lpr: tuple[LprFixing, ...]
    lpr_multiple: Decimal = Decimal(4)
    licensed_policy_cap: Decimal = Decimal("0.24")
    licensed_hard_limit: Decimal = Decimal("0.36")
    new_rules_from: date = date(2020, 8, 20)
    legacy_cap: Decimal = Decimal("0.24")
    legacy_hard_limit: Decimal = Decimal("0.36")

    def __post_init__(self) -> None:
        object.__setattr__(self, "lpr", tuple(sorted(self.lpr, key=lambda f: f.effective_from)))
        if self.licensed_policy_cap > self.licensed_hard_limit:
            raise ValidationError(
                "policy_cap_above_hard_limit",
                f"the licensed-lender policy cap {format_percent(self.licensed_policy_cap)} is "
                f"above the hard limit {format_percent(self.licensed_hard_limit)}",
                field="licensed_policy_cap",
            )


def _fixings(*pairs: tuple[str, str]) -> tuple[LprFixing, ...]:
    return tuple(LprFixing(date.fromisoformat(d), Decimal(r)) for d, r in pairs)


#: The one-year LPR series as listed in spec/data-sources.md (from memory there, to be checked
#: against the official series); a newer series is loaded with ``load_cap_config``.
DEFAULT_CAP_CONFIG = CapConfig(
    version="2025-05-20",
    lpr=_fixings(
        ("2019-08-20", "0.0425"),
        ("2019-09-20", "0.0420"),
        ("2019-11-20", "0.0415"),
        ("2020-02-20", "0.0405"),
        ("2020-04-20", "0.0385"),
        ("2021-12-20", "0.0380"),
        ("2022-01-20", "0.0370"),
        ("2022-08-22", "0.0365"),
        ("2023-06-20", "0.0355"),
        ("2023-08-21", "0.0345"),
        ("2024-07-22", "0.0335"),
        ("2024-10-21", "0.0310"),
        ("2025-05-20", "0.0300"),
    ),
)


@dataclass(frozen=True)
class RateCap:
    """The cap one loan is held to.

    ``cap`` is the highest annual rate a product or loan may carry; ``hard_limit`` is the rate
    above which interest is void (equal to ``cap`` for private lending after 2020-08-20).
    """

    profile: Profile
    contract_date: date
    cap: Decimal
    hard_limit: Decimal
    basis: str
    config_version: str


def lpr_on(day: date, *, config: CapConfig = DEFAULT_CAP_CONFIG) -> LprFixing:
    """The one-year LPR in force on ``day``: the latest fixing on or before it."""
    in_force = [f for f in config.lpr if f.effective_from <= day]
    if not in_force:
        raise ValidationError(
            "no_lpr_on_date",
            f"no one-year LPR is known on {day.isoformat()} (the series starts "
            f"{config.lpr[0].effective_from.isoformat() if config.lpr else 'nowhere'})",
            field="contract_date",
        )
    return in_force[-1]


def rate_cap(
    *, profile: Profile | str, contract_date: date, config: CapConfig = DEFAULT_CAP_CONFIG
) -> RateCap:
    """The cap for a contract of ``profile`` made on ``contract_date``."""
    profile = Profile(profile)
    if contract_date < config.new_rules_from:
        return RateCap(
            profile,
            contract_date,
            config.legacy_cap,
            config.legacy_hard_limit,
            f"contract before {config.new_rules_from.isoformat()}: "
            f"{format_percent(config.legacy_cap)} / {format_percent(config.legacy_hard_limit)}",
            config.version,
        )
    if profile is Profile.LICENSED_LENDER:
        return RateCap(
            profile,
            contract_date,
            config.licensed_policy_cap,
            config.licensed_hard_limit,
            f"licensed lender policy cap {format_percent(config.licensed_policy_cap)} "
            f"(hard limit {format_percent(config.licensed_hard_limit)})",
            config.version,
        )
    fixing = lpr_on(contract_date, config=config)
    cap = config.lpr_multiple * fixing.rate
    return RateCap(
        profile,
        contract_date,
        cap,
        cap,
        f"{config.lpr_multiple.normalize()} × one-year LPR {format_percent(fixing.rate)} "
        f"in force from {fixing.effective_from.isoformat()}",
        config.version,
    )


def _rate(raw: Any, field: str) -> Decimal:
    """A rate from the file: a decimal string (a TOML float is refused, as it is inexact)."""
    return parse_rate(raw, field=field)


def load_cap_config(path: Path, *, base: CapConfig = DEFAULT_CAP_CONFIG) -> CapConfig:
    """A configuration from a TOML file; keys it leaves out keep ``base``'s values.

    ::

        version = "2026-01-20"
        lpr_multiple = "4"
        licensed_policy_cap = "0.24"
        licensed_hard_limit = "0.36"
        [[lpr]]
        from = 2026-01-20
        rate = "0.0295"

    Rates are decimal strings. A file's ``[[lpr]]`` entries replace the whole series.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError("rate_caps_unreadable", f"{path}: {exc}", field="rate_caps") from exc
    if not isinstance(data.get("version"), str):
        raise ValidationError(
            "rate_caps_unversioned", f"{path}: a rate-cap file needs a version", field="version"
        )
    changes: dict[str, Any] = {"version": data["version"]}
    for key in (
        "lpr_multiple",
        "licensed_policy_cap",
        "licensed_hard_limit",
        "legacy_cap",
        "legacy_hard_limit",
    ):
        if key in data:
            changes[key] = _rate(data[key], key)
    if "lpr" in data:
        changes["lpr"] = tuple(_fixing(entry, path) for entry in data["lpr"])
    return replace(base, **changes)


def _fixing(entry: Any, path: Path) -> LprFixing:
    if not (isinstance(entry, dict) and isinstance(entry.get("from"), date) and "rate" in entry):
        raise ValidationError(
            "rate_caps_bad_lpr", f"{path}: each [[lpr]] needs from (a date) and rate", field="lpr"
        )
    return LprFixing(entry["from"], _rate(entry["rate"], "lpr"))
