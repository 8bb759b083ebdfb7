"""API keys never show in a repr, an error message or a log line."""

from __future__ import annotations

import pickle

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from sluicegate import ProviderError, ProviderSettings, Secret, configure_logging, redact_secrets
from sluicegate.secrets import scrub

KEY = "sk-proj-SECRETSECRETSECRET1234567890"


def test_secret_repr_and_str_hide_the_value() -> None:
    secret = Secret(KEY)
    assert KEY not in repr(secret) and KEY not in str(secret) and KEY not in f"{secret}"
    assert secret.reveal() == KEY
    assert secret == Secret(KEY) and secret != Secret(KEY + "x")


def test_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(KEY))


def test_provider_settings_repr_hides_the_key() -> None:
    assert KEY not in repr(ProviderSettings(api_key=KEY))


def test_error_messages_are_scrubbed_even_when_the_server_echoes_the_key() -> None:
    Secret("plain-key-without-known-shape")
    error = ProviderError(
        "invalid key plain-key-without-known-shape and sk-abcdefghijklmnopqrstuvwx",
        provider="openai",
        model="m",
        status=401,
    )
    assert "plain-key-without-known-shape" not in str(error)
    assert "sk-abcdefghijklmnopqrstuvwx" not in repr(error)
    assert "***" in str(error)


def test_redact_processor_blanks_keys_in_nested_values() -> None:
    Secret(KEY)
    event = {"event": "x", "headers": {"authorization": f"Bearer {KEY}"}, "items": [KEY], "n": 3}
    out = redact_secrets(None, "info", event)
    assert KEY not in repr(out) and out["n"] == 3


def test_a_caller_logging_a_key_by_mistake_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        configure_logging("info")
        structlog.get_logger().info("oops", api_key="sk-ant-api03-abcdefghijklmnopqrstuvwxyz")
    finally:
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "oops" in err and "sk-ant-api03-abcdefghijklmnopqrstuvwxyz" not in err


@given(
    st.text(min_size=8, max_size=40).filter(lambda k: "*" not in k),
    st.text(max_size=50),
    st.text(max_size=50),
)
def test_scrub_removes_every_known_key_wherever_it_stands(
    key: str, before: str, after: str
) -> None:
    from sluicegate import secrets

    saved = (set(secrets._known), secrets._known_pattern)
    try:
        Secret(key)
        assert key not in scrub(before + key + after)
    finally:
        secrets._known, secrets._known_pattern = saved
