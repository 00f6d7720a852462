"""Field encryption bound to table, column and row; blind index; master-key rotation."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update

from puhui.db.engine import run_in_transaction
from puhui.identity import crypto, customers, sealed
from puhui.identity.crypto import DecryptionFailed, Keyring, KeyringError, new_key_text
from puhui.identity.models import SEALED_TABLES
from puhui.identity.models import customers as customers_table

from .conftest import ALICE, BOB, new_customer


def test_seal_and_open_bound_to_table_column_row(keys):
    cipher, wrapped = crypto.new_record_key(keys, "identity_customers", 7)
    sealed_value = cipher.seal("phone_ct", ALICE.phone)
    assert ALICE.phone not in sealed_value and sealed_value.startswith("v1:")
    assert cipher.seal("phone_ct", ALICE.phone) != sealed_value  # a fresh nonce each time
    assert (
        crypto.open_record(keys, "identity_customers", 7, wrapped).open("phone_ct", sealed_value)
        == ALICE.phone
    )
    with pytest.raises(DecryptionFailed):
        cipher.open("address_ct", sealed_value)  # another column
    with pytest.raises(DecryptionFailed):
        crypto.open_record(keys, "identity_customers", 8, wrapped)  # the key moved to row 8
    other = crypto.RecordCipher(
        "identity_customers", 8, crypto.open_record(keys, "identity_customers", 7, wrapped)._key
    )
    with pytest.raises(DecryptionFailed):
        other.open("phone_ct", sealed_value)  # same key, another row id


def test_ciphertext_moved_to_another_row_fails(engine, keys, clock):
    a = new_customer(engine, keys, clock, ALICE)
    b = new_customer(engine, keys, clock, BOB)
    with engine.begin() as c:
        stolen = c.execute(select(customers_table).where(customers_table.c.id == a)).one()
        c.execute(
            update(customers_table)
            .where(customers_table.c.id == b)
            .values(id_number_ct=stolen.id_number_ct)
        )
        with pytest.raises(DecryptionFailed, match=r"identity_customers\.id_number_ct"):
            customers.view(c, keys=keys, customer_id=b)
        c.execute(
            update(customers_table)
            .where(customers_table.c.id == b)
            .values(wrapped_key=stolen.wrapped_key, id_number_ct=stolen.id_number_ct)
        )
        with pytest.raises(DecryptionFailed, match="data key"):
            customers.view(c, keys=keys, customer_id=b)


def test_nothing_personal_is_stored_in_clear(engine, keys, clock):
    new_customer(engine, keys, clock, ALICE)
    with engine.connect() as c:
        row = c.execute(select(customers_table)).one()
    blob = repr(tuple(row))
    for value in (ALICE.phone, ALICE.name, ALICE.id_number, ALICE.card):
        assert value not in blob


def test_blind_index_finds_without_decrypting_and_differs_by_kind(engine, keys, clock):
    a = new_customer(engine, keys, clock, ALICE)
    new_customer(engine, keys, clock, BOB)
    with engine.connect() as c:
        assert customers.find(c, keys=keys, phone=ALICE.phone).id == a
        assert customers.find(c, keys=keys, id_number=ALICE.id_number.lower()).id == a
    assert crypto.blind_index(keys, "phone", "1") != crypto.blind_index(keys, "card", "1")
    other = Keyring.parse(f"k1:{new_key_text()}", new_key_text())
    assert crypto.blind_index(keys, "phone", ALICE.phone) != crypto.blind_index(
        other, "phone", ALICE.phone
    )


def test_rotation_rewraps_keys_and_keeps_data_readable(engine, keys, clock):
    a = new_customer(engine, keys, clock, ALICE)
    old_master = ",".join(f"{k}:{crypto._b64e(v)}" for k, v in keys.master)
    index = crypto._b64e(keys.index_key)
    rotated = Keyring.parse(f"k2:{new_key_text()},{old_master}", index)
    done = run_in_transaction(engine, lambda c: sealed.rotate(c, rotated, SEALED_TABLES))
    assert done == 2  # the customer and the card
    assert run_in_transaction(engine, lambda c: sealed.rotate(c, rotated, SEALED_TABLES)) == 0
    only_new = Keyring.parse(f"k2:{crypto._b64e(rotated.master_key('k2'))}", index)
    with engine.connect() as c:
        view = customers.view(c, keys=only_new, customer_id=a)
        assert (
            view.phone == "139****5678"
            and customers.find(c, keys=only_new, phone=ALICE.phone).id == a
        )
        assert customers.list_cards(c, keys=only_new, customer_id=a)[0].card_number.endswith(
            ALICE.card[-4:]
        )
        with pytest.raises(KeyringError, match="k2"):  # the old ring lacks the new key
            customers.view(c, keys=keys, customer_id=a)


def test_keyring_from_env_and_the_dev_key_file(tmp_path, caplog):
    k, i = new_key_text(), new_key_text()
    ring = Keyring.from_env({"PUHUI_MASTER_KEY": f"prod1:{k}", "PUHUI_BLIND_INDEX_KEY": i})
    assert ring.active_id == "prod1" and not ring.dev_only and k not in repr(ring)
    with pytest.raises(KeyringError, match="BLIND_INDEX"):
        Keyring.from_env({"PUHUI_MASTER_KEY": f"prod1:{k}"})
    with pytest.raises(KeyringError, match="32 bytes"):
        Keyring.parse("short", i)
    path = tmp_path / "dev-keys.json"
    with caplog.at_level(logging.WARNING, logger="puhui.identity.crypto"):
        dev = Keyring.from_env({"PUHUI_DEV_KEY_FILE": str(path)})
    assert dev.dev_only and "DEV-ONLY" in caplog.text and oct(path.stat().st_mode)[-3:] == "600"
    again = Keyring.from_env({"PUHUI_DEV_KEY_FILE": str(path)})
    assert again.master == dev.master and again.index_key == dev.index_key
    rotated = crypto.load_dev_keyring(path, rotate=True)
    assert rotated.active_id == "dev2" and rotated.master[1] == dev.master[0]
