"""Credit bureau: what other lenders know about an applicant, behind one small interface.

A real bureau (the PBoC credit reference centre, Baihang, a shared-data service) answers
with the applicant's loans at other platforms, their overdue history and how many lenders
asked about them recently. ``SandboxBureau`` plays one for development, tests and the
simulation: records registered by ID number, and for everyone else either a clean thin file or,
with ``synthetic=True``, a record derived from the ID number so the same person always gets the
same history. Every query is logged as an inquiry, as a real bureau would.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol


@dataclass(frozen=True)
class BureauReport:
    """Other platforms' view of one borrower on ``as_of``.

    ``other_lenders`` counts distinct lenders with an outstanding loan; ``outstanding_fen`` is
    their principal outstanding (P2P-CAP-03 adds it to ours); ``monthly_repayment_fen`` what
    those loans cost a month (for the debt-to-income ratio); ``overdue_last_6m`` the overdue
    episodes in the last six months and ``overdue_now`` whether one is still open;
    ``inquiries_last_30d`` how many lenders looked at the borrower in 30 days.
    """

    as_of: date
    other_lenders: int = 0
    outstanding_fen: int = 0
    monthly_repayment_fen: int = 0
    overdue_last_6m: int = 0
    overdue_now: bool = False
    inquiries_last_30d: int = 0
    source: str = "sandbox"


class CreditBureau(Protocol):
    def report(self, *, id_number: str, as_of: date) -> BureauReport:
        """The borrower's record; an unknown person gets an empty (thin-file) report."""
        ...


@dataclass
class SandboxBureau:
    """An in-memory bureau. ``records`` are keyed by ID number."""

    records: dict[str, BureauReport] = field(default_factory=dict)
    synthetic: bool = False
    inquiries: list[tuple[str, date]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def register(self, id_number: str, report: BureauReport) -> None:
        with self._lock:
            self.records[id_number] = report

    def report(self, *, id_number: str, as_of: date) -> BureauReport:
        with self._lock:
            self.inquiries.append((id_number, as_of))
            found = self.records.get(id_number)
        if found is not None:
            return found
        return _synthetic(id_number, as_of) if self.synthetic else BureauReport(as_of)


def _synthetic(id_number: str, as_of: date) -> BureauReport:
    """A stable, plausible record from the ID number: most people clean, some indebted."""
    h = hashlib.sha256(id_number.encode()).digest()
    lenders = h[0] % 5 if h[1] < 160 else 0
    outstanding = lenders * (h[2] % 50 + 1) * 1_000_00
    overdue = 1 if h[3] < 20 else 0
    return BureauReport(
        as_of=as_of,
        other_lenders=lenders,
        outstanding_fen=outstanding,
        monthly_repayment_fen=outstanding // 12,
        overdue_last_6m=overdue,
        overdue_now=overdue == 1 and h[4] < 64,
        inquiries_last_30d=h[5] % 4,
        source="sandbox-synthetic",
    )
