"""What the dispatcher adds to every codec's message: the key as the provider declares it
(:class:`CredentialHeader`), ``Idempotency-Key`` and the caller's headers, in that order;
and how a declaration that no HTTP header can carry is refused."""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate import ConfigError, Secret
from sluicegate import secrets as process_secrets
from sluicegate.dispatch import for_attempt
from sluicegate.providers.base import BEARER, BoundProvider, CredentialHeader, ProviderSpec
from sluicegate.providers.openai import SPEC as OPENAI
from sluicegate.transports.base import HttpRequest, RequestTimeouts
from sluicegate.types import Metadata, Request, coerce_messages

KEY = Secret("sk-test-attempt-key-0123456789")


@contextmanager
def forgotten_afterwards() -> Iterator[None]:
    """Forget the keys made inside: every Secret is remembered by the process so that
    scrub() blanks it everywhere, and hypothesis draws keys from the code's own string
    constants too (``overloaded_error``), which would then be blanked in later tests."""
    saved = (set(process_secrets._known), process_secrets._known_pattern)
    try:
        yield
    finally:
        process_secrets._known, process_secrets._known_pattern = saved


_TCHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
tokens = st.text(alphabet=_TCHARS, min_size=1, max_size=30)
keys = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=60)


def bound(spec: ProviderSpec = OPENAI) -> BoundProvider:
    return BoundProvider(spec.name, spec, None, "http://x", None)  # type: ignore[arg-type]


def request(credential: Secret | None = KEY, **metadata: object) -> Request:
    return Request(
        model="openai/m",
        messages=coerce_messages("hi"),
        metadata=Metadata(request_id="r", **metadata),  # type: ignore[arg-type]
        credential=credential,
    )


CODEC_HEADERS = MappingProxyType({"content-type": "application/json", "x-codec": "1"})
ENCODED = HttpRequest("POST", "http://x/chat", CODEC_HEADERS, b"{}")


def test_key_then_idempotency_then_caller_headers_over_the_codecs() -> None:
    sent = for_attempt(bound(), request(idempotency_key="k-1", headers={"x-trace": "t"}), ENCODED)
    assert dict(sent.headers) == {
        "content-type": "application/json",
        "x-codec": "1",
        "authorization": f"Bearer {KEY.reveal()}",
        "idempotency-key": "k-1",
        "x-trace": "t",
    }
    # the same value HttpRequest's own __init__ builds (for_attempt fills the slots itself)
    assert sent == HttpRequest("POST", "http://x/chat", sent.headers, b"{}")
    assert dict(CODEC_HEADERS) == {"content-type": "application/json", "x-codec": "1"}


def test_a_callers_own_header_wins() -> None:
    headers = {"idempotency-key": "mine", "authorization": "Bearer caller-token"}
    sent = for_attempt(bound(), request(idempotency_key="k-1", headers=headers), ENCODED)
    assert sent.headers["idempotency-key"] == "mine"
    assert sent.headers["authorization"] == "Bearer caller-token"


def test_nothing_to_add_sends_the_codecs_message_itself() -> None:
    """Keyless, with no idempotency key, headers or timers: no copy at all."""
    assert for_attempt(bound(), request(credential=None), ENCODED) is ENCODED


def test_a_keyless_request_gets_no_key_header() -> None:
    sent = for_attempt(bound(), request(credential=None, idempotency_key="k-1"), ENCODED)
    assert "authorization" not in sent.headers
    assert sent.headers["idempotency-key"] == "k-1"


def test_a_requests_own_timers_ride_along() -> None:
    sent = for_attempt(bound(), request(credential=None, timeout=3.0), ENCODED)
    assert sent.timeouts == RequestTimeouts(connect=None, read=3.0)
    assert sent.headers == CODEC_HEADERS


def test_a_declared_header_and_scheme() -> None:
    spec = ProviderSpec(
        "raw",
        OPENAI.factory,
        "http://x",
        credential_header=CredentialHeader("X-Api-Key", scheme=None),
    )
    sent = for_attempt(bound(spec), request(), ENCODED)
    assert sent.headers["x-api-key"] == KEY.reveal()
    assert "authorization" not in sent.headers


def test_the_sent_message_does_not_show_the_key_in_its_repr() -> None:
    sent = for_attempt(bound(), request(idempotency_key="k-1"), ENCODED)
    assert KEY.reveal() not in repr(sent)
    assert "authorization" in repr(sent)


@given(name=tokens, scheme=st.none() | tokens, key=keys)
def test_the_value_is_scheme_space_key_or_the_bare_key(
    name: str, scheme: str | None, key: str
) -> None:
    header = CredentialHeader(name, scheme)
    assert header.name == name.lower()
    expected = key if scheme is None else f"{scheme} {key}"
    with forgotten_afterwards():
        assert header.value(Secret(key)) == expected


def test_bearer_is_the_default() -> None:
    assert ProviderSpec("x", OPENAI.factory, "http://x").credential_header == BEARER
    assert CredentialHeader("Authorization", "Bearer") == BEARER


@pytest.mark.parametrize("name", ["", "x api key", "x-key\r\n", "x:key", "ключ", "x\x00"])
def test_a_name_no_header_can_carry_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="is not an HTTP header name"):
        CredentialHeader(name)


@pytest.mark.parametrize("scheme", ["", "Bearer ", "Bear er", "Bearer\n"])
def test_a_scheme_of_more_than_one_word_is_refused(scheme: str) -> None:
    with pytest.raises(ConfigError, match="is not an auth scheme"):
        CredentialHeader("authorization", scheme)
