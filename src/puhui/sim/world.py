"""What a simulation runs against: its settings, the database, the moving clock, the sandboxes,
and what seeding left behind for the days to use.

A ``World`` is the only state the day steps share. Randomness comes from one
``np.random.default_rng(seed)`` and time from one ``FixedClock``, both held here, so a run is a
pure function of its settings: the same seed gives the same book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from argon2 import PasswordHasher
from sqlalchemy import Engine

from puhui.core.clock import SHANGHAI, FixedClock
from puhui.credit.bureau import SandboxBureau
from puhui.credit.scoring import ScoringModel, default_model
from puhui.custody.sandbox import SandboxBank
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.kyc import SandboxVerifier
from puhui.sim.population import Borrowers, Investors

#: The simulation acts as this principal in the audit log.
SIM_ACTOR = Actor("system:sim")
#: A cheap hasher for the sandbox bank's transaction passwords: simulated people only.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
#: Default first business day of ``puhui sim`` (``puhui demo`` ends on today instead).
DEFAULT_START = date(2026, 1, 5)
#: From this many borrowers a simulation starts with a book made set-based (``sim.book``).
BULK_BOOK_FROM = 10_000


@dataclass(frozen=True)
class SimConfig:
    """How big and how long; the seed fixes everything else."""

    seed: int = 7
    days: int = 90
    borrowers: int = 300
    investors: int = 100
    start: date = DEFAULT_START
    #: Applications a day per borrower not currently owing (Poisson rate).
    apply_rate: float = 0.012
    #: Share of offers the borrower accepts.
    accept_rate: float = 0.85
    #: Where the custody bank's daily statements are kept.
    statement_dir: Path = Path("statements")
    #: Simulate the marketplace (listings, bids, auto-invest, claim transfers) when the product
    #: is seeded; its money reaches the custody bank through queued instructions.
    marketplace: bool = True
    #: Start with one loan per borrower made by ``lending.bulk`` (``sim.book``); None: when
    #: there are at least ``BULK_BOOK_FROM`` borrowers. The small demo keeps the service path.
    book_at_start: bool | None = None

    @property
    def bulk_book(self) -> bool:
        if self.book_at_start is None:
            return self.borrowers >= BULK_BOOK_FROM
        return self.book_at_start


@dataclass(frozen=True)
class Login:
    """A credential the demo prints: demo-only, derived from the seed."""

    role: str
    username: str
    password: str
    totp_secret: str = ""


@dataclass
class World:
    config: SimConfig
    engine: Engine
    clock: FixedClock
    keys: Keyring
    rng: np.random.Generator
    bank: SandboxBank
    verifier: SandboxVerifier = field(default_factory=SandboxVerifier)
    bureau: SandboxBureau = field(default_factory=lambda: SandboxBureau(synthetic=True))
    model: ScoringModel = field(default_factory=default_model)
    borrowers: Borrowers | None = None
    investors: Investors | None = None
    #: customer id of each borrower / investor row
    borrower_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    investor_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    product_code: str = ""
    marketplace_code: str | None = None
    logins: list[Login] = field(default_factory=list)
    staff_ids: dict[str, int] = field(default_factory=dict)
    #: per loan id, the installment from which its borrower stops paying (0: never)
    default_from: dict[int, int] = field(default_factory=dict)
    #: what happened, by counter name, for the summary
    counts: dict[str, int] = field(default_factory=dict)
    #: steps left out because the domain function they need does not exist in this tree
    missing: set[str] = field(default_factory=set)
    #: investors enrolled in the marketplace's auto-invest
    auto_investors: set[int] = field(default_factory=set)
    #: the monthly report's items computed at each month end, by period ("2026-01")
    month_reports: dict[str, dict[str, Any]] = field(default_factory=dict)

    #: days since the start: the simulated day is ``config.start + day_index``
    day_index: int = 0

    @property
    def today(self) -> date:
        return self.config.start + timedelta(days=self.day_index)

    def at(self, hour: int, minute: int = 0) -> datetime:
        """Move the clock to ``hour:minute`` Shanghai time of the current simulated day."""
        local = datetime.combine(self.today, time(hour, minute), tzinfo=SHANGHAI)
        instant = local.astimezone(UTC)
        if instant < self.clock.now():
            raise AssertionError(f"the simulation never moves time backwards ({instant})")
        self.clock.set(instant)
        return instant

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def start_clock(config: SimConfig) -> FixedClock:
    """08:00 Shanghai on the first day."""
    return FixedClock(datetime.combine(config.start, time(8, 0), tzinfo=SHANGHAI))


def new_world(config: SimConfig, engine: Engine, keys: Keyring) -> World:
    clock = start_clock(config)
    return World(
        config=config,
        engine=engine,
        clock=clock,
        keys=keys,
        rng=np.random.default_rng(config.seed),
        bank=SandboxBank(engine, clock=clock, hasher=FAST_HASHER, seed=config.seed),
    )
