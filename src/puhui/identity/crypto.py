"""Field encryption for personal data (SEC-CONF-01, PFI-C2-01) and the keyed blind index.

Each record that holds personal data gets its own 256-bit data key. Fields are sealed with
AES-256-GCM under that key, with ``table|column|row id`` as associated data, so a ciphertext
copied into another column or row no longer decrypts. The data key itself is stored wrapped
(AES-256-GCM again) by a master key that lives outside the database, bound to ``table|row id``;
rotating the master key re-wraps the data keys and never touches the data.

Lookups by value (a phone at login, an ID number for "one identity, one customer") go through a
blind index: HMAC-SHA256 under a key of its own, so rotating the master key leaves it valid.

Keys come from the environment: ``PUHUI_MASTER_KEY`` is ``id:base64key`` (several separated by
commas, the first one active, older ones kept for unwrapping until rotation is done) and
``PUHUI_BLIND_INDEX_KEY`` is ``base64key``. Without them (the embedded SQLite default) a dev key
file is generated and used, loudly logged as such: it is for development only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from puhui.core.errors import PuhuiError

log = logging.getLogger("puhui.identity.crypto")

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = "v1"
DEV_KEY_FILE = "puhui-dev-keys.json"


class KeyringError(PuhuiError):
    """A key is missing, malformed or does not open a ciphertext (never shows key material)."""

    type = "api_error"
    status = 500


class DecryptionFailed(KeyringError):
    def __init__(self, where: str) -> None:
        super().__init__("decryption_failed", f"a sealed value in {where} does not open")


def _b64d(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KeyringError("key_malformed", "a key must be 32 bytes, base64 encoded")
    return raw


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_key_text() -> str:
    return _b64e(AESGCM.generate_key(bit_length=256))


@dataclass(frozen=True, repr=False)
class Keyring:
    """The master keys (the first is active) and the blind-index key."""

    master: tuple[tuple[str, bytes], ...]
    index_key: bytes
    dev_only: bool = False

    def __repr__(self) -> str:  # never print key material
        return f"Keyring(active={self.active_id!r}, ids={[k for k, _ in self.master]!r})"

    @property
    def active_id(self) -> str:
        return self.master[0][0]

    def master_key(self, key_id: str) -> bytes:
        for kid, key in self.master:
            if kid == key_id:
                return key
        raise KeyringError("master_key_unknown", f"master key {key_id!r} is not configured")

    @classmethod
    def parse(cls, master: str, index_key: str, *, dev_only: bool = False) -> Keyring:
        keys: list[tuple[str, bytes]] = []
        for i, part in enumerate(p.strip() for p in master.split(",") if p.strip()):
            kid, _, text = part.rpartition(":")
            keys.append((kid or f"k{i + 1}", _b64d(text)))
        if not keys or len({k for k, _ in keys}) != len(keys):
            raise KeyringError("master_key_malformed", "PUHUI_MASTER_KEY needs distinct key ids")
        return cls(tuple(keys), _b64d(index_key), dev_only)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        env = os.environ if environ is None else environ
        master = env.get("PUHUI_MASTER_KEY")
        if master:
            index = env.get("PUHUI_BLIND_INDEX_KEY")
            if not index:
                raise KeyringError(
                    "blind_index_key_missing",
                    "PUHUI_MASTER_KEY is set but PUHUI_BLIND_INDEX_KEY is not",
                )
            return cls.parse(master, index)
        return load_dev_keyring(Path(env.get("PUHUI_DEV_KEY_FILE", DEV_KEY_FILE)))


def load_dev_keyring(path: Path, *, rotate: bool = False) -> Keyring:
    """The development keyring in ``path``, created on first use; ``rotate`` adds a new active
    master key in front of the old ones."""
    if path.exists():
        data = json.loads(path.read_text())
    else:
        data = {"dev_only": True, "master_keys": [], "blind_index_key": new_key_text()}
    if rotate or not data["master_keys"]:
        data["master_keys"].insert(0, f"dev{len(data['master_keys']) + 1}:{new_key_text()}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1)
    log.warning(
        "DEV-ONLY master key from %s: personal data is NOT protected; set PUHUI_MASTER_KEY "
        "and PUHUI_BLIND_INDEX_KEY in production",
        path,
    )
    return Keyring.parse(",".join(data["master_keys"]), data["blind_index_key"], dev_only=True)


# ---------------------------------------------------------------------------- primitives


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return f"{FORMAT}:{_b64e(nonce + AESGCM(key).encrypt(nonce, plaintext, aad))}"


def _open(key: bytes, sealed: str, aad: bytes, where: str) -> bytes:
    fmt, _, body = sealed.partition(":")
    if fmt != FORMAT:
        raise DecryptionFailed(where)
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    try:
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionFailed(where) from None


@dataclass(frozen=True)
class WrappedKey:
    """A record's data key as stored: the ciphertext and the id of the master key it is under."""

    wrapped: str
    key_id: str


class RecordCipher:
    """Seals and opens the personal fields of one row of one table."""

    def __init__(self, table: str, row_id: int, data_key: bytes) -> None:
        self.table = table
        self.row_id = row_id
        self._key = data_key

    def _aad(self, column: str) -> bytes:
        return f"{self.table}|{column}|{self.row_id}".encode()

    def seal(self, column: str, value: str | None) -> str | None:
        if value is None:
            return None
        return _seal(self._key, value.encode(), self._aad(column))

    def open(self, column: str, sealed: str | None) -> str | None:
        if sealed is None:
            return None
        return _open(self._key, sealed, self._aad(column), f"{self.table}.{column}").decode()


def _wrap_aad(table: str, row_id: int) -> bytes:
    return f"data-key|{table}|{row_id}".encode()


def new_record_key(keys: Keyring, table: str, row_id: int) -> tuple[RecordCipher, WrappedKey]:
    data_key = AESGCM.generate_key(bit_length=256)
    wrapped = _seal(keys.master_key(keys.active_id), data_key, _wrap_aad(table, row_id))
    return RecordCipher(table, row_id, data_key), WrappedKey(wrapped, keys.active_id)


def open_record(keys: Keyring, table: str, row_id: int, stored: WrappedKey) -> RecordCipher:
    where = f"{table} data key"
    data_key = _open(
        keys.master_key(stored.key_id), stored.wrapped, _wrap_aad(table, row_id), where
    )
    return RecordCipher(table, row_id, data_key)


def rewrap(keys: Keyring, table: str, row_id: int, stored: WrappedKey) -> WrappedKey:
    """The same data key wrapped under the active master key."""
    aad = _wrap_aad(table, row_id)
    data_key = _open(keys.master_key(stored.key_id), stored.wrapped, aad, f"{table} data key")
    return WrappedKey(_seal(keys.master_key(keys.active_id), data_key, aad), keys.active_id)


def blind_index(keys: Keyring, kind: str, value: str) -> str:
    """HMAC-SHA256 of a normalised value under the index key; ``kind`` separates domains, so
    a phone number and an ID number never share an index value."""
    return hmac.new(keys.index_key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()
