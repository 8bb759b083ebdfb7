"""The summary of an SDK request that the stages see: never raises, over any body."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sluicegate.sdk.summary import PASS_THROUGH_MODEL, kind_of, summarise

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"model": st.text(), "messages": json_values, "max_tokens": json_values},
        optional={"system": json_values, "stream": json_values},
    ).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
)
paths = st.sampled_from(["/v1/chat/completions", "/v1/messages", "/v1/models", "/x"])


@given(st.sampled_from(["GET", "POST"]), paths, bodies)
def test_summarise_never_raises_and_names_a_provider(method: str, path: str, body: bytes) -> None:
    summary = summarise(method, path, body)
    assert summary.model.partition("/")[0] in ("sdk-openai", "sdk-anthropic", "sdk")
    assert summary.params.max_tokens is None or summary.params.max_tokens > 0
    assert all(isinstance(m.content, str) for m in summary.messages)


def test_kinds() -> None:
    assert kind_of("POST", "/v1/chat/completions") == "openai"
    assert kind_of("POST", "/v1/messages") == "anthropic"
    assert kind_of("POST", "/v1/messages/batches") == "other"
    assert kind_of("GET", "/v1/chat/completions") == "other"
    assert kind_of("POST", "/v1/embeddings") == "other"


def test_anthropic_summary_reads_system_text_blocks_and_max_tokens() -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 50,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    summary = summarise("POST", "/v1/messages", json.dumps(body).encode())
    assert summary.model == "sdk-anthropic/claude-x"
    assert [(m.role, m.text) for m in summary.messages] == [("system", "Be brief."), ("user", "hi")]
    assert summary.params.max_tokens == 50
    assert summarise("POST", "/v1/messages", b"not json").model == PASS_THROUGH_MODEL
