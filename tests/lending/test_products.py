"""The product service on a real database (SQLite, and PostgreSQL when configured)."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.lending import products
from puhui.lending.models import product_versions
from puhui.lending.product_terms import Deduction

from .samples import LICENSED

#: 8–16% with a 1% fee at disbursement: up to about 22.2% a year by IRR, within 24%.
TERMS = replace(LICENSED, max_annual_rate=Decimal("0.16"), upfront_fee_rate=Decimal("0.01"))
DAY = date(2026, 1, 1)


def create(conn, clock, code="XFD-12", terms=TERMS, on=DAY):
    return products.create_product(
        conn, code=code, name="消费贷", terms=terms, effective_from=on, clock=clock
    )


def test_create_and_read_back(engine, clock):
    with engine.begin() as conn:
        made = create(conn, clock)
    assert (made.code, made.version, made.name) == ("XFD-12", 1, "消费贷")
    assert made.terms == TERMS
    assert made.cap_rate == Decimal("0.24")
    assert made.cap_config_version == "2025-05-20"
    assert Decimal("0.22") < made.highest_annual_rate < Decimal("0.23")  # 16% + 1% fee, 3 months
    with engine.connect() as conn:
        assert products.get_product(conn, code="XFD-12") == made
        assert products.get_version(conn, version_id=made.version_id) == made


def test_versions_are_appended_and_old_ones_kept(engine, clock):
    with engine.begin() as conn:
        first = create(conn, clock)
        second = products.add_version(
            conn,
            code="XFD-12",
            terms=replace(TERMS, max_annual_rate=Decimal("0.12")),
            effective_from=date(2026, 3, 1),
            clock=clock,
        )
    assert second.version == 2 and second.version_id != first.version_id
    with engine.connect() as conn:
        assert products.get_product(conn, code="XFD-12").version == 2
        assert products.get_product(conn, code="XFD-12", version=1) == first
        # A loan made under version 1 still reads version 1's terms.
        assert products.get_version(conn, version_id=first.version_id).terms == TERMS


def test_a_refused_product_is_not_stored(engine, clock):
    with engine.begin() as conn, pytest.raises(ValidationError) as err:
        create(conn, clock, terms=replace(TERMS, deductions=(Deduction.MANAGEMENT_FEE,)))
    assert err.value.code == "deduction_from_principal"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(product_versions)).scalar() == 0


def test_a_new_version_over_the_cap_is_refused(engine, clock):
    with engine.begin() as conn:
        create(conn, clock)
    with engine.begin() as conn, pytest.raises(ValidationError) as err:
        products.add_version(
            conn,
            code="XFD-12",
            terms=replace(TERMS, max_annual_rate=Decimal("0.25")),
            effective_from=DAY,
            clock=clock,
        )
    assert err.value.code == "rate_above_cap"


def test_duplicate_code_missing_product_and_backdated_version(engine, clock):
    with engine.begin() as conn:
        create(conn, clock)
    with engine.begin() as conn, pytest.raises(Conflict):
        create(conn, clock)
    with engine.connect() as conn, pytest.raises(NotFound):
        products.get_product(conn, code="NOPE")
    with engine.connect() as conn, pytest.raises(NotFound):
        products.get_product(conn, code="XFD-12", version=9)
    with engine.begin() as conn, pytest.raises(NotFound):
        products.add_version(conn, code="NOPE", terms=TERMS, effective_from=DAY, clock=clock)
    with engine.begin() as conn, pytest.raises(ValidationError) as err:
        products.add_version(
            conn, code="XFD-12", terms=TERMS, effective_from=date(2025, 12, 31), clock=clock
        )
    assert err.value.code == "effective_from_before_current"


@pytest.mark.parametrize(("code", "name"), [("", "x"), ("a b", "x"), ("-x", "x"), ("ok", " ")])
def test_code_and_name_are_checked(engine, clock, code, name):
    with engine.begin() as conn, pytest.raises(ValidationError):
        products.create_product(
            conn, code=code, name=name, terms=TERMS, effective_from=DAY, clock=clock
        )


def test_list_pages_by_code_with_latest_versions(engine, clock):
    with engine.begin() as conn:
        for code in ("C", "A", "B"):
            create(conn, clock, code=code)
        products.add_version(conn, code="B", terms=TERMS, effective_from=DAY, clock=clock)
    with engine.connect() as conn:
        page = products.list_products(conn, limit=2)
        assert [(p.code, p.version) for p in page.items] == [("A", 1), ("B", 2)]
        assert page.has_more
        rest = products.list_products(conn, limit=2, starting_after="B")
        assert [p.code for p in rest.items] == ["C"] and not rest.has_more
        with pytest.raises(ValidationError):
            products.list_products(conn, limit=0)
