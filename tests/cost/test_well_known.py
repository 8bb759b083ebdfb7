"""The well-known-name rule: a relay (or any OpenAI-compatible endpoint) serving a model
under its maker's name is priced as that model; spellings that differ only in case,
separators, a vendor prefix or a snapshot suffix meet; a name never meets a longer name
of its family; a name that several different prices answer to stays unknown; the mock
provider's made-up prices are never lent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate import Client, ModelPrice, PriceTable
from sluicegate.cost.prices import well_known_name
from sluicegate.cost.tables import builtin_prices

TOKEN = st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True)
SEPARATOR = st.sampled_from("-._")
PREFIX = st.sampled_from(["openai/", "relay/", "openai/vendor/", "openrouter/acme/"])
SNAPSHOT = st.sampled_from(["", "-latest", "-2025-04-14", "-20250929"])
TABLE = Client().prices  # built once: the built-in lists and the plugins' (entry points)


@st.composite
def spelling(draw: st.DrawFn, tokens: list[str]) -> str:
    """``tokens`` joined by any separators, in any case, behind any provider prefix."""
    text = tokens[0]
    for token in tokens[1:]:
        text += draw(SEPARATOR) + token
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in text)
    return draw(PREFIX) + cased


def tokens_of(name: str) -> list[str]:
    return name.replace(".", "-").replace("_", "-").split("-")


@given(st.data(), st.lists(TOKEN, min_size=1, max_size=6), SNAPSHOT)
def test_any_spelling_of_a_name_normalises_as_its_plain_spelling(
    data: st.DataObject, tokens: list[str], snapshot: str
) -> None:
    variant = data.draw(spelling(tokens)) + snapshot
    assert well_known_name(variant) == well_known_name("-".join(tokens) + snapshot)


@given(
    st.lists(TOKEN, min_size=1, max_size=5),
    SEPARATOR,
    st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True).filter(lambda t: t != "latest"),
)
def test_a_name_never_meets_a_longer_name_of_its_family(
    tokens: list[str], separator: str, extra: str
) -> None:
    base = "-".join(tokens)
    assert well_known_name(f"p/{base}") != well_known_name(f"p/{base}{separator}{extra}")


RELAYED = sorted((p for p in builtin_prices() if p.well_known), key=lambda p: p.model) + sorted(
    (p for p in TABLE.entries() if p.model.startswith("anthropic/")), key=lambda p: p.model
)


@given(st.data(), st.sampled_from(RELAYED))
def test_every_bundled_model_is_found_by_a_relay_under_any_spelling(
    data: st.DataObject, price: ModelPrice
) -> None:
    bare = price.model.partition("/")[2]
    variant = data.draw(spelling(tokens_of(bare)))
    if not bare.endswith("-latest"):
        variant += data.draw(SNAPSHOT)
    found = TABLE.lookup(variant)
    assert found is not None, variant
    assert found.model == price.model
    assert found.rates == price.rates


@pytest.mark.parametrize(
    ("asked", "priced_as"),
    [
        ("openai/gpt-4.1", "openai/gpt-4.1"),
        ("openai/claude-sonnet-4.5", "anthropic/claude-sonnet-4-5"),
        ("openai/anthropic/claude-sonnet-4.5", "anthropic/claude-sonnet-4-5"),
        ("openai/gemini-2.5-flash", "gemini/gemini-2.5-flash"),
        ("openai/google/gemini-2.5-flash-lite", "gemini/gemini-2.5-flash-lite"),
        ("openai/deepseek-v3.2", "deepseek/deepseek-v3.2"),
        ("openai/deepseek-ai/DeepSeek-V3.2", "deepseek/deepseek-v3.2"),
        ("openai/gpt-4.1-mini", "openai/gpt-4.1-mini"),
        ("azure/gpt_4.1", "openai/gpt-4.1"),
        ("openai/mistral-medium-3-5", "mistral/mistral-medium-3.5"),
    ],
)
def test_relay_names_are_priced_as_their_model(asked: str, priced_as: str) -> None:
    price = TABLE.lookup(asked)
    assert price is not None and price.model == priced_as
    if asked != priced_as:
        assert price.source.endswith(f", priced as {priced_as}")
        assert price.source.startswith(
            ("builtin ", "plugin sluicegate-anthropic ", "plugin sluicegate-gemini ")
        )


def test_the_source_says_which_list_and_which_model() -> None:
    price = TABLE.lookup("openai/gemini-2.5-flash")
    assert price is not None
    assert price.source == "plugin sluicegate-gemini 2026-12-02, priced as gemini/gemini-2.5-flash"
    assert TABLE.lookup("openai/gemini-2.5-flash") is price  # remembered, not recomputed


def test_a_family_member_is_never_priced_as_another() -> None:
    table = PriceTable(
        [
            ModelPrice("openai/gpt-4.1", 2.0, 8.0),
            ModelPrice("gemini/gemini-2.5-flash", 0.3, 2.5),
        ]
    )
    for asked in ("relay/gpt-4.1-mini", "relay/gpt-4.1-nano", "relay/gemini-2.5-flash-lite"):
        assert table.lookup(asked) is None, asked
    mini, lite = TABLE.lookup("relay/gpt-4.1-mini"), TABLE.lookup("relay/gemini-2.5-flash-lite")
    assert mini is not None and mini.model == "openai/gpt-4.1-mini"
    assert lite is not None and lite.model == "gemini/gemini-2.5-flash-lite"


def test_a_name_that_different_prices_answer_to_stays_unknown() -> None:
    a, b = ModelPrice("a/m-1", 1.0, 2.0), ModelPrice("b/M.1", 1.0, 3.0)
    table = PriceTable([a, b])
    assert table.lookup("c/m_1") is None  # never guessed
    assert table.lookup("a/m-1") == a and table.lookup("b/M.1") == b  # exact names still are
    same = PriceTable([a, ModelPrice("b/M.1", 1.0, 2.0, source="file deal.toml")])
    found = same.lookup("c/m_1")  # equal prices: no ambiguity
    assert found is not None and found.rates == a.rates and found.model == "a/m-1"


def test_the_mock_providers_made_up_prices_are_never_lent() -> None:
    for name in ("fast", "smart", "tiny", "Fast", "mock/fast-latest"):
        assert TABLE.lookup(f"openai/{name}") is None, name
    assert TABLE.lookup("mock/fast") is not None


def test_the_users_prices_come_first_and_join_the_index() -> None:
    mine = ModelPrice("openai/claude-sonnet-4.5", 2.0, 10.0, source="file deal.toml")
    table = Client(prices=[mine]).prices
    assert table.lookup("openai/claude-sonnet-4.5") == mine  # the exact name wins
    # two different prices now answer to claude-sonnet-4-5: another relay stays unknown
    assert table.lookup("other/claude-sonnet-4.5") is None
    sonnet = table.lookup("anthropic/claude-sonnet-4-5")
    assert sonnet is not None and sonnet.output_per_mtok == 15.0

    local = ModelPrice("vllm/llama-3-70b", 0.0, 0.2, source="file local.toml")
    found = Client(prices=[local]).prices.lookup("openai/meta-llama/Llama-3-70B")
    assert found is not None and found.source == "file local.toml, priced as vllm/llama-3-70b"


def test_dated_snapshots_still_come_before_the_well_known_rule() -> None:
    price = TABLE.lookup("openai/gpt-4o-mini-2024-07-18")
    assert price is not None and price.model == "openai/gpt-4o-mini"
    assert price.source == "builtin openai 2026-12-02"  # its own provider: no "priced as"
