"""The synthetic people: valid and unique identifiers, plausible shapes, the same for a seed."""

from __future__ import annotations

from datetime import date

import numpy as np

from puhui.identity.identifiers import (
    age_on,
    parse_bank_card,
    parse_mobile,
    parse_resident_id,
)
from puhui.sim import population

TODAY = date(2026, 11, 2)


def _draw(seed: int = 5) -> tuple[population.Borrowers, population.Investors]:
    rng = np.random.default_rng(seed)
    b = population.borrowers(rng, 3_000, today=TODAY)
    return b, population.investors(rng, 500, today=TODAY, first_index=3_000)


def test_identifiers_are_valid_and_unique_across_borrowers_and_investors() -> None:
    b, i = _draw()
    everyone = [b.people, i.people]
    for field in ("id_number", "phone", "card"):
        values = np.concatenate([getattr(p, field) for p in everyone])
        assert len(set(values)) == len(values), field
    for p in everyone:
        for k in range(0, len(p), 97):
            rid = parse_resident_id(str(p.id_number[k]), today=TODAY)
            assert rid.sex == p.sex[k]
            assert rid.birth_date == population.birth_dates(p.birth[k : k + 1])[0]
            parse_bank_card(str(p.card[k]))
            parse_mobile(str(p.phone[k]))


def test_borrowers_fit_the_product_and_the_scorecard() -> None:
    b, i = _draw()
    ages = [age_on(d, TODAY) for d in population.birth_dates(b.people.birth)]
    assert min(ages) >= 22 and max(ages) <= 55
    assert set(np.unique(b.term)) <= set(population.LOAN_TERMS)
    assert b.amount_fen.min() >= 100_000 and b.amount_fen.max() <= 20_000_000
    # rows of the German credit data: about 30% bad, so the modelled PD averages near it
    assert 0.2 < float(b.pd.mean()) < 0.4
    assert set(np.unique(i.risk_level)) == set(population.RISK_LEVELS)
    assert (b.people.income_fen > 0).all() and (i.assets_fen > 0).all()


def test_the_same_seed_draws_the_same_people() -> None:
    (b1, i1), (b2, i2) = _draw(9), _draw(9)
    assert list(b1.people.id_number) == list(b2.people.id_number)
    assert list(i1.people.card) == list(i2.people.card)
    assert (b1.score == b2.score).all()
