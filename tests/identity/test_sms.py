"""The sandbox SMS senders: the demo's writes each code to the log with the phone masked."""

from __future__ import annotations

import logging

import pytest

from puhui.identity.otp import LogSms, SandboxSms, sandbox_sms


def test_the_log_sender_keeps_and_logs_with_the_phone_masked(caplog):
    sms = LogSms()
    with caplog.at_level(logging.WARNING, logger="puhui.sms"):
        sms.send("13812345678", "您的验证码是 042917，5分钟内有效")
    assert sms.last_code("13812345678") == "042917"
    [record] = caplog.records
    assert record.getMessage() == "sandbox SMS to 138****5678: 您的验证码是 042917，5分钟内有效"
    assert "13812345678" not in caplog.text


@pytest.mark.parametrize(
    ("value", "kind"), [("log", LogSms), (None, SandboxSms), ("x", SandboxSms)]
)
def test_the_default_sender_follows_puhui_sms(monkeypatch, value, kind):
    if value is None:
        monkeypatch.delenv("PUHUI_SMS", raising=False)
    else:
        monkeypatch.setenv("PUHUI_SMS", value)
    assert type(sandbox_sms()) is kind
