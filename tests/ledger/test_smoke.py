from puhui.db.engine import run_in_transaction
from puhui.ledger.codes import AccountCode, AccountFlags, Book, Result, TransferCode, TransferFlags
from puhui.ledger.service import Transfer, create_account, create_transfers, get_account
from puhui.ledger.verify import verify


def test_smoke(engine, clock):
    def setup(c):
        m = create_account(c, book=Book.CUSTODY, code=AccountCode.CUSTODY_MASTER,
                           flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS, clock=clock)
        u = create_account(c, book=Book.CUSTODY, code=AccountCode.LENDER, owner="c:1",
                           flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS, clock=clock)
        return m, u
    m, u = run_in_transaction(engine, setup)
    res = run_in_transaction(engine, lambda c: create_transfers(c, [
        Transfer("d1", m, u, 10000, TransferCode.DEPOSIT),
        Transfer("w1", u, m, 4000, TransferCode.WITHDRAWAL, TransferFlags.PENDING, timeout=60),
        Transfer("w1p", amount=3000, flags=TransferFlags.POST_PENDING, pending_id="w1"),
        Transfer("w2", u, m, 99999, TransferCode.WITHDRAWAL),
    ], clock=clock))
    assert [r.result for r in res] == [Result.OK, Result.OK, Result.OK, Result.EXCEEDS_CREDITS]
    with engine.connect() as c:
        a = get_account(c, u)
        assert (a.credits_posted, a.debits_posted, a.debits_pending) == (10000, 3000, 0)
        assert verify(c) == []
