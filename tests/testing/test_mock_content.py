"""Deterministic mock content: the token rule, answers, and their lengths."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sluicegate.testing.content import (
    MAX_ANSWER_TOKENS,
    MESSAGE_OVERHEAD_TOKENS,
    MIN_ANSWER_TOKENS,
    answer_tokens,
    count_input_tokens,
    count_tokens,
    generate_answer,
)

prompts = st.text(max_size=300)
models = st.text(max_size=30)


def test_count_tokens_counts_words_and_punctuation() -> None:
    assert count_tokens("") == 0
    assert count_tokens("   \n\t ") == 0
    assert count_tokens("Hello") == 1
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("it's 3.14") == 6  # "it", "'", "s", "3", ".", "14"
    assert count_tokens("snake_case_name") == 1
    assert count_tokens("héllo wörld") == 2


def test_count_input_tokens_adds_overhead_per_message() -> None:
    assert count_input_tokens([]) == 0
    assert count_input_tokens(["Hello, world!"]) == 4 + MESSAGE_OVERHEAD_TOKENS
    assert count_input_tokens(["a b", ""]) == 2 + 2 * MESSAGE_OVERHEAD_TOKENS


def test_answer_opens_with_an_echo_of_the_prompt() -> None:
    answer = generate_answer("What is the capital of France?", model="fast")
    assert answer.text.startswith("Mock answer to: What is the capital of.")
    assert answer.finish_reason == "stop"
    assert answer.text.endswith(".")


def test_answer_to_an_empty_prompt() -> None:
    assert generate_answer("").text.startswith("Mock answer to: nothing.")


def test_answer_is_deterministic_and_known() -> None:
    # A fixed expectation: the generator must give the same text on every machine and
    # Python version (it uses SHA-256 and SplitMix64, never hash() or random).
    answer = generate_answer("Hi there", None, "fast")
    assert answer.text == (
        "Mock answer to: Hi there. Beacon brook apple hazel dune granite. Slate."
    )
    assert answer.output_tokens == 16


def test_model_changes_the_answer() -> None:
    assert (
        generate_answer("Hello", model="fast").text != generate_answer("Hello", model="smart").text
    )


@given(prompts, models)
def test_pieces_are_single_tokens_and_lengths_bounded(prompt: str, model: str) -> None:
    answer = generate_answer(prompt, None, model)
    assert MIN_ANSWER_TOKENS <= answer.output_tokens <= MAX_ANSWER_TOKENS
    assert answer.text == "".join(answer.tokens)
    assert count_tokens(answer.text) == answer.output_tokens
    assert all(count_tokens(piece) == 1 for piece in answer.tokens)
    assert answer.finish_reason == "stop"
    assert generate_answer(prompt, None, model) == answer


@given(prompts, models, st.integers(min_value=0, max_value=100))
def test_max_tokens_cuts_the_answer(prompt: str, model: str, max_tokens: int) -> None:
    natural = generate_answer(prompt, None, model)
    cut = generate_answer(prompt, max_tokens, model)
    assert cut.output_tokens == min(max_tokens, natural.output_tokens)
    assert cut.tokens == natural.tokens[: cut.output_tokens]
    assert count_tokens(cut.text) == cut.output_tokens
    expected = "length" if max_tokens < natural.output_tokens else "stop"
    assert cut.finish_reason == expected


def test_answer_tokens_matches_generate_answer() -> None:
    assert answer_tokens("Hello", 5, model="m") == list(generate_answer("Hello", 5, "m").tokens)
    assert len(answer_tokens("Hello", 5, model="m")) == 5
