"""One simulation from start to summary: seed, live the days, check the books.

``puhui demo`` and ``puhui sim`` call ``run``; so do the tests. ``Progress`` is told what is
happening (a phase name, how far, out of how many) so the CLI can draw its bars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from puhui.identity.crypto import Keyring
from puhui.sim import book, days, seed
from puhui.sim.summary import Summary, book_digest, summarise
from puhui.sim.world import SimConfig, World, new_world

Progress = Callable[[str, int, int], None]


def _quiet(_phase: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class Result:
    world: World
    summary: Summary
    digest: str


def run(
    config: SimConfig,
    engine: Engine,
    keys: Keyring,
    *,
    progress: Progress = _quiet,
    steps: list[days.Step] | None = None,
) -> Result:
    """Seed an empty database, simulate ``config.days`` days, and summarise the books."""
    config.statement_dir.mkdir(parents=True, exist_ok=True)
    world = new_world(config, engine, keys)
    seed.seed(world, progress)
    if config.bulk_book:
        book.originate_book(world, progress)
    days.simulate(
        world,
        steps=steps,
        progress=lambda d: progress("days", d, config.days),
    )
    with engine.connect() as conn:
        summary = summarise(
            conn,
            days=config.days,
            last_date=world.today,
            counts=world.counts,
            missing=sorted(world.missing | set(days.not_simulated(config))),
        )
        digest = book_digest(conn)
    return Result(world, summary, digest)
