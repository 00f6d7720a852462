"""PFI-C3-01: secrets never reach a log line; personal values in logged text are masked."""

from __future__ import annotations

import logging

from puhui.api.redaction import mask_text, redact

from .conftest import ALICE, parse_logs


def test_secret_fields_are_dropped_and_values_masked(captured_logs):
    log = logging.getLogger("puhui.identity.test")
    log.warning(
        "signing in %s with card %s",
        ALICE.phone,
        ALICE.card,
        extra={
            "password": "Hunter2-Secret",
            "pwd": "x1",
            "pin": "123456",
            "cvv": "999",
            "otp": "654321",
            "token": "tok_abc",
            "id_number": ALICE.id_number,
            "status": 200,
        },
    )
    text = captured_logs()
    (line,) = parse_logs(text)
    for secret in ("Hunter2-Secret", "654321", "tok_abc", "999"):
        assert secret not in text
    assert not {"password", "pwd", "pin", "cvv", "otp", "token"} & set(line)
    assert (
        line["message"]
        == f"signing in 139****5678 with card {ALICE.card[:6]}*********{ALICE.card[-4:]}"
    )
    assert line["id_number"] == "1****************" + ALICE.id_number[-1] and line["status"] == 200


def test_mask_text_leaves_ordinary_numbers_alone():
    assert mask_text("request took 1234 ms, 2026-11-02") == "request took 1234 ms, 2026-11-02"
    assert mask_text("手机13800138000") == "手机138****8000"
    assert redact({"nested": {"secret": "s", "phone": "13800138000"}}) == {
        "nested": {"phone": "138****8000"}
    }
