"""Mistral AI's models (La Plateforme): list prices, USD per million tokens, keyed
``mistral/MODEL``.

Checked on :data:`AS_OF` (2026-12-02). Mistral's own pricing page
(https://mistral.ai/pricing) could not be read from here, so **no price below is
confirmed on a Mistral page**; each is one that several third-party accounts agree on:

- ``mistral-medium-3.5`` (Mistral Medium 3.5, released 2026-04-29): $1.50 input, $7.50
  output (apidog's guide, puter's price list, and a braintrust-proxy issue that quotes
  Mistral's pricing page and model card). ``mistral-medium-latest`` has pointed at it
  since Mistral retired Medium 3 and 3.1 on 2026-05-22 (the same issue), so it is priced
  the same.
- ``magistral-medium-latest``: $2 input, $5 output (puter, margindash, lava's gateway).
- ``codestral-latest``: $0.30 input, $0.90 output (puter, tokenmix, others).
- The batch API's 50% discount (puter and others; not confirmed on Mistral's page).
- No cached-input price: none was found published, so cache reads are billed as plain
  input.

Left out because the accounts disagree, so no price could be established: Mistral Large
(``mistral-large-latest``: $0.50 / $1.50 in some, $2 / $6 in others, and a Large 4 at yet
another price), Mistral Small (``mistral-small-latest``: $0.10 / $0.30 or $0.20 / $0.60),
the Ministral models. They stay unknown; give them a price in a price file.
"""

from __future__ import annotations

from typing import Final

from sluicegate.cost.prices import PriceList
from sluicegate.cost.tables._rows import Row, model_prices

__all__ = ["AS_OF", "PRICES", "PRICE_LIST"]

AS_OF: Final = "2026-12-02"

# model: (input, cached input, output), USD per million tokens
_ROWS: Final[dict[str, Row]] = {
    "mistral-medium-3.5": (1.50, None, 7.50),
    "mistral-medium-latest": (1.50, None, 7.50),
    "magistral-medium-latest": (2.00, None, 5.00),
    "codestral-latest": (0.30, None, 0.90),
}

PRICES: Final = model_prices(
    "mistral", _ROWS, source=f"builtin mistral {AS_OF}", batch_discount=0.5
)

PRICE_LIST: Final = PriceList(
    provider="mistral",
    as_of=AS_OF,
    sources=(
        "https://mistral.ai/pricing",
        "https://developer.puter.com/tutorials/mistral-api-pricing/",
        "https://apidog.com/blog/mistral-medium-3-5-api/",
        "https://github.com/braintrustdata/braintrust-proxy/issues/802",
    ),
    prices=PRICES,
    note="none confirmed on Mistral's page: prices third-party accounts agree on",
)
