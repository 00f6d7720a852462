"""The batch's argument checks refuse with a clear error naming the field (not a TypeError)."""

from __future__ import annotations

from datetime import date

import pytest

from puhui.core.clock import FixedClock
from puhui.core.errors import ValidationError
from puhui.lending import accounts, eod


def test_an_inverted_range_names_through(engine, clock: FixedClock) -> None:
    with pytest.raises(ValidationError) as refused:
        eod.run_range(engine, start=date(2026, 11, 5), through=date(2026, 11, 4), clock=clock)
    assert (refused.value.code, refused.value.field) == ("eod_range_inverted", "through")


@pytest.mark.parametrize(
    ("partitions", "partition", "code", "field"),
    [
        (0, None, "eod_partitions_invalid", "partitions"),
        (eod.MAX_PARTITIONS + 1, None, "eod_partitions_invalid", "partitions"),
        (4, 4, "eod_partition_invalid", "partition"),
        (4, -1, "eod_partition_invalid", "partition"),
    ],
)
def test_partition_arguments_name_their_field(partitions, partition, code, field) -> None:
    with pytest.raises(ValidationError) as refused:
        eod._check_partitions(partitions, partition)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_capital_must_be_positive(engine, clock: FixedClock) -> None:
    with engine.begin() as c, pytest.raises(ValidationError) as refused:
        accounts.inject_capital(c, amount=0, transfer_id="capital:zero", clock=clock)
    assert (refused.value.code, refused.value.field) == ("amount_invalid", "amount")
