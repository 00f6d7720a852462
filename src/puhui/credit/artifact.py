"""The model artifact: one JSON file with the scorecard, how it was trained and how it did.

Its identity is the SHA-256 of its canonical JSON (sorted keys, no spaces) leaving out the
hash itself, the version derived from it, the training time and the library versions. The same
data, configuration and seed therefore give the same hash, and ``model_version``
(``scorecard-`` and the first 12 hex digits) names exactly one model; every decision records it.
Floats are rounded when the artifact is built so the hash does not hang on the last bits of a
floating-point sum.

A trained default ships in ``puhui/credit/artifacts/`` so scoring works on a fresh install.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from puhui.core.errors import ValidationError

SCHEMA = "puhui.credit.scorecard/1"
DEFAULT_NAME = "german-credit-scorecard.json"
#: Keys outside the hash: the hash and version themselves, and where/when it was made.
UNHASHED = ("sha256", "model_version", "trained_at", "environment")
LIBRARIES = ("numpy", "scikit-learn", "optbinning", "ortools", "lightgbm", "scorecardpy")


def canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(artifact: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        canonical({k: v for k, v in artifact.items() if k not in UNHASHED})
    ).hexdigest()


def seal(body: Mapping[str, Any], *, trained_at: str) -> dict[str, Any]:
    """The artifact for ``body``, with its hash, version, time and library versions."""
    content = {"schema": SCHEMA, **body}
    digest = content_hash(content)
    return {
        **content,
        "sha256": digest,
        "model_version": f"scorecard-{digest[:12]}",
        "trained_at": trained_at,
        "environment": {name: _version(name) for name in LIBRARIES},
    }


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def default_artifact_path() -> Path:
    return Path(str(resources.files("puhui.credit").joinpath("artifacts").joinpath(DEFAULT_NAME)))


def read_artifact(path: Path) -> dict[str, Any]:
    """An artifact from disk, refused if its content no longer matches its hash."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError("artifact_unreadable", f"{path}: {exc}", field="artifact") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValidationError(
            "artifact_schema", f"{path} is not a {SCHEMA} artifact", field="artifact"
        )
    if content_hash(data) != data.get("sha256"):
        raise ValidationError(
            "artifact_tampered", f"{path}: content does not match its sha256", field="artifact"
        )
    return data


def write_artifact(artifact: Mapping[str, Any], folder: Path) -> Path:
    """Write ``<model_version>.json`` into ``folder``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{artifact['model_version']}.json"
    path.write_text(
        json.dumps(artifact, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return path
