"""AML-STR-02 on the lending money path: no disbursement to a customer a watch-list match has
blocked; the loan stays accepted and no money moves."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from puhui.compliance import aml
from puhui.compliance.models import watch_list
from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict
from puhui.identity.audit import Actor
from puhui.identity.models import customers
from puhui.lending import accounts, servicing
from puhui.lending.models import loans

from . import factories

STAFF = Actor("staff:1")


def test_no_disbursement_to_a_blocked_customer(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        book = factories.setup(c, clock)
        bidx = c.execute(
            select(customers.c.id_number_bidx).where(customers.c.id == book.customer_id)
        ).scalar_one()
        c.execute(
            watch_list.insert().values(
                list_name="UN-1267", id_number_bidx=bidx, note="", added_by="t", added_us=0
            )
        )
        assert [b["customer_id"] for b in aml.screen(c, clock=clock)] == [book.customer_id]
        cash_before = accounts.balances(c)
        with pytest.raises(Conflict) as refused:
            servicing.disburse(c, loan_id=book.loan_id, actor=STAFF, clock=clock)
        assert refused.value.code == "customer_blocked"
        state = c.execute(select(loans.c.state).where(loans.c.id == book.loan_id)).scalar_one()
        assert state == "accepted"
        assert accounts.balances(c) == cash_before
