"""No prompt, answer or key in anything exported unless content capture is asked for;
with it, the prompt and the answer appear, and the key still does not."""

from __future__ import annotations

import pytest

from otel.helpers import KEY, MODEL, Recorder, error, make_client, ok, stream_ok
from sluicegate import ProviderError
from sluicegate.otel.content import CAPTURE_ENV
from sluicegate.testing import ScriptedTransport

pytestmark = pytest.mark.anyio

PROMPT = "ZEBRA-PROMPT-7781 tell me about sluices"
ANSWER = "QUOKKA-ANSWER-4413"
MARKS = ("ZEBRA-PROMPT-7781", "QUOKKA-ANSWER-4413", KEY, KEY[8:24])


async def run_every_kind(recorder: Recorder, capture: bool | None) -> None:
    """A plain call, a stream and a failed call, each with the prompt (and the key)."""
    transport = ScriptedTransport(ok(ANSWER), stream_ok(ANSWER), error(400))
    async with make_client(transport, recorder, capture_content=capture) as sg:
        await sg.chat(
            MODEL, [{"role": "system", "content": PROMPT}, {"role": "user", "content": PROMPT}]
        )
        async with sg.stream(MODEL, PROMPT) as stream:
            await stream.final_response()
        with pytest.raises(ProviderError):
            await sg.chat(MODEL, PROMPT, idempotency_key="caller-key-SECRETISH-99")


def leaks(recorder: Recorder, marks: tuple[str, ...]) -> list[str]:
    return [v for v in recorder.exported_strings() for m in marks if m in v]


async def test_by_default_no_prompt_answer_or_key_is_exported(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    await run_every_kind(recorder, None)
    assert len(recorder.spans) == 6  # three requests, one attempt each
    assert list(recorder.exported_strings())  # (the search has something to search)
    assert leaks(recorder, (*MARKS, "caller-key-SECRETISH-99")) == []
    # the idempotency key's presence is told, not the key
    assert any(
        s.attributes.get("sluicegate.idempotency_key.present") is True  # type: ignore[union-attr]
        for s in recorder.spans
    )


async def test_with_capture_on_the_prompt_and_answer_appear_but_never_the_key(
    recorder: Recorder,
) -> None:
    await run_every_kind(recorder, True)
    requests = [s for s in recorder.spans if s.parent is None]
    inputs = [str(s.attributes.get("gen_ai.input.messages")) for s in requests]  # type: ignore[union-attr]
    outputs = [str(s.attributes.get("gen_ai.output.messages", "")) for s in requests]  # type: ignore[union-attr]
    assert all("ZEBRA-PROMPT-7781" in i for i in inputs)
    assert '"role": "system"' in inputs[0]
    assert sum(ANSWER in o for o in outputs) == 2  # the plain call and the stream
    assert leaks(recorder, (KEY, KEY[8:24])) == []
    # content goes on the request span only, never into metric attributes
    for name, points in recorder.points().items():
        for point in points:
            assert not any(m in str(getattr(point, "attributes", "")) for m in MARKS), name


async def test_the_environment_variable_turns_capture_on(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CAPTURE_ENV, "true")
    async with make_client(ScriptedTransport(ok(ANSWER)), recorder) as sg:
        await sg.chat(MODEL, PROMPT)
    assert PROMPT in str(recorder.request_span.attributes["gen_ai.input.messages"])  # type: ignore[index]


async def test_an_explicit_false_wins_over_the_environment(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CAPTURE_ENV, "true")
    async with make_client(ScriptedTransport(ok(ANSWER)), recorder, capture_content=False) as sg:
        await sg.chat(MODEL, PROMPT)
    assert leaks(recorder, MARKS) == []
