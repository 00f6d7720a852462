"""Loan products: create, version, read and list.

Every version is checked by ``rules.check_product`` on the date it takes effect and stored
with its rate assessment; versions are never changed afterwards. Functions take the caller's
connection and never commit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from puhui.compliance.rate_caps import DEFAULT_CAP_CONFIG, CapConfig
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.lending.models import product_versions, products
from puhui.lending.product_terms import ProductTerms
from puhui.lending.rules import RateAssessment, check_product

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PAGE = 100


@dataclass(frozen=True)
class ProductVersion:
    """One version of a product, with the rate assessment made when it was created."""

    version_id: int
    product_id: int
    code: str
    name: str
    version: int
    effective_from: date
    terms: ProductTerms
    highest_annual_rate: Decimal
    highest_effective_rate: Decimal
    cap_rate: Decimal
    cap_basis: str
    cap_config_version: str
    created_us: int


@dataclass(frozen=True)
class ProductPage:
    items: tuple[ProductVersion, ...]
    has_more: bool


def _now_us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)


def _check_code(code: str) -> str:
    if not isinstance(code, str) or not _CODE.match(code):
        raise ValidationError(
            "product_code_invalid",
            "a product code is 1–64 letters, digits, '_', '.' or '-', starting with a letter "
            "or digit",
            field="code",
        )
    return code


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationError(
            "product_name_invalid", "a product name is 1–200 characters", field="name"
        )
    return name.strip()


def _insert_version(
    conn: Connection,
    *,
    product_id: int,
    version: int,
    terms: ProductTerms,
    effective_from: date,
    assessment: RateAssessment,
    created_us: int,
) -> None:
    conn.execute(
        insert(product_versions).values(
            product_id=product_id,
            version=version,
            effective_from=effective_from,
            mode=terms.mode.value,
            method=terms.method.value,
            term_unit=terms.term_unit.value,
            regulatory_profile=terms.regulatory_profile.value,
            min_amount_fen=terms.min_amount_fen,
            max_amount_fen=terms.max_amount_fen,
            max_annual_rate=str(terms.max_annual_rate),
            highest_annual_rate=str(assessment.highest.annual_rate_irr),
            highest_effective_rate=str(assessment.highest.effective_annual_rate),
            cap_rate=str(assessment.cap.cap),
            cap_basis=assessment.cap.basis,
            cap_config_version=assessment.cap.config_version,
            terms_json=json.dumps(terms.to_mapping(), ensure_ascii=False, sort_keys=True),
            created_us=created_us,
        )
    )


def create_product(
    conn: Connection,
    *,
    code: str,
    name: str,
    terms: ProductTerms,
    effective_from: date,
    clock: Clock,
    config: CapConfig = DEFAULT_CAP_CONFIG,
) -> ProductVersion:
    """A new product with its first version; refuses a code already taken."""
    code, name = _check_code(code), _check_name(name)
    assessment = check_product(terms, on=effective_from, config=config)
    if conn.execute(select(products.c.id).where(products.c.code == code)).first():
        raise Conflict("product_exists", f"product {code} already exists", field="code")
    now = _now_us(clock)
    try:
        product_id = conn.execute(
            insert(products).values(code=code, name=name, created_us=now)
        ).inserted_primary_key[0]
    except IntegrityError as exc:  # another transaction took the code a moment ago
        raise Conflict("product_exists", f"product {code} already exists", field="code") from exc
    _insert_version(
        conn,
        product_id=product_id,
        version=1,
        terms=terms,
        effective_from=effective_from,
        assessment=assessment,
        created_us=now,
    )
    return get_product(conn, code=code)


def add_version(
    conn: Connection,
    *,
    code: str,
    terms: ProductTerms,
    effective_from: date,
    clock: Clock,
    config: CapConfig = DEFAULT_CAP_CONFIG,
) -> ProductVersion:
    """The product's next version; it may not take effect before the current one."""
    row = conn.execute(
        select(products.c.id).where(products.c.code == code).with_for_update()
    ).first()
    if row is None:
        raise NotFound("product_not_found", f"no product {code}", field="code")
    latest = get_product(conn, code=code)
    if effective_from < latest.effective_from:
        raise ValidationError(
            "effective_from_before_current",
            f"version {latest.version} takes effect {latest.effective_from.isoformat()}; "
            "a new version cannot take effect earlier",
            field="effective_from",
        )
    assessment = check_product(terms, on=effective_from, config=config)
    _insert_version(
        conn,
        product_id=row.id,
        version=latest.version + 1,
        terms=terms,
        effective_from=effective_from,
        assessment=assessment,
        created_us=_now_us(clock),
    )
    return get_product(conn, code=code)


def _select() -> Any:
    return select(product_versions, products.c.code, products.c.name).join(
        products, products.c.id == product_versions.c.product_id
    )


def _version(row: Any) -> ProductVersion:
    return ProductVersion(
        version_id=row.id,
        product_id=row.product_id,
        code=row.code,
        name=row.name,
        version=row.version,
        effective_from=row.effective_from,
        terms=ProductTerms.from_mapping(json.loads(row.terms_json)),
        highest_annual_rate=Decimal(row.highest_annual_rate),
        highest_effective_rate=Decimal(row.highest_effective_rate),
        cap_rate=Decimal(row.cap_rate),
        cap_basis=row.cap_basis,
        cap_config_version=row.cap_config_version,
        created_us=row.created_us,
    )


def get_product(conn: Connection, *, code: str, version: int | None = None) -> ProductVersion:
    """A product's given version, or its latest."""
    query = _select().where(products.c.code == code)
    if version is None:
        query = query.order_by(product_versions.c.version.desc()).limit(1)
    else:
        query = query.where(product_versions.c.version == version)
    row = conn.execute(query).first()
    if row is None:
        which = "" if version is None else f" version {version}"
        raise NotFound("product_not_found", f"no product {code}{which}", field="code")
    return _version(row)


def get_version(conn: Connection, *, version_id: int) -> ProductVersion:
    """The product version a loan was made under, by its id."""
    row = conn.execute(_select().where(product_versions.c.id == version_id)).first()
    if row is None:
        raise NotFound(
            "product_version_not_found", f"no product version {version_id}", field="version_id"
        )
    return _version(row)


def list_products(
    conn: Connection, *, limit: int = 20, starting_after: str | None = None
) -> ProductPage:
    """The latest version of every product, by code, a page at a time."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError("limit_out_of_range", f"limit must be 1–{MAX_PAGE}", field="limit")
    other = product_versions.alias("other")
    latest = (
        select(func.max(other.c.version))
        .where(other.c.product_id == products.c.id)
        .scalar_subquery()
    )
    query = _select().where(product_versions.c.version == latest).order_by(products.c.code)
    if starting_after is not None:
        query = query.where(products.c.code > starting_after)
    rows = conn.execute(query.limit(limit + 1)).all()
    return ProductPage(tuple(_version(r) for r in rows[:limit]), len(rows) > limit)
