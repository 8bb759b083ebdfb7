"""Document analysis with structured answers: every document becomes a typed record.

Each text file in examples/documents/ is asked for a summary, its kind, its topics and
the figures it mentions, as a pydantic model. sluicegate asks the provider for JSON by
its own means, repairs what comes back, validates it, and re-asks with the problems
when it does not fit; the records and what they cost are printed in a table.

Runs against the built-in mock provider (no key, no network):
    python examples/document_analysis.py            # asyncio
    python examples/document_analysis.py trio       # trio
Needs pydantic (pip install pydantic). With a real model:
SLUICEGATE_MODEL=openai/gpt-4.1-mini (and OPENAI_API_KEY).
"""

import os
import sys
from pathlib import Path
from typing import Literal

import anyio
from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

import sluicegate

DOCUMENTS = Path(__file__).resolve().parent / "documents"
MODEL = os.environ.get("SLUICEGATE_MODEL", "mock/fast")


class DocumentFacts(BaseModel):
    """What we want out of every document."""

    kind: Literal["report", "incident", "notice", "other"]
    summary: str = Field(description="one sentence")
    topics: list[str] = Field(description="at most five")
    figures: list[str] = Field(description="numbers with their units, as written")


PROMPT = (
    "Read the document below and describe it: its kind, a one-sentence summary, its "
    "topics and the figures it mentions.\n\n{text}"
)


async def analyse(client: sluicegate.Client, path: Path) -> tuple[str, DocumentFacts, float]:
    text = await anyio.Path(path).read_text(encoding="utf-8")
    answer = await client.chat(
        MODEL, PROMPT.format(text=text), response_format=DocumentFacts, max_tokens=400
    )
    return path.name, answer.parsed, answer.cost or 0.0


async def main(base_url: str | None = None) -> dict[str, DocumentFacts]:
    """Analyse every document; ``base_url`` points the mock provider at a mock server."""
    providers = {} if base_url is None else {"mock": sluicegate.ProviderSettings(base_url=base_url)}
    facts: dict[str, DocumentFacts] = {}
    costs: dict[str, float] = {}
    async with sluicegate.Client(providers=providers) as client:

        async def one(path: Path) -> None:
            name, record, cost = await analyse(client, path)
            facts[name], costs[name] = record, cost

        async with anyio.create_task_group() as group:
            for path in sorted(DOCUMENTS.glob("*.txt")):
                group.start_soon(one, path)
        requests = client.ledger.snapshot().total.requests
    table = Table(title=f"{len(facts)} documents, {requests} requests, {MODEL}")
    for column in ("document", "kind", "summary", "topics", "figures", "cost"):
        table.add_column(column)
    for name in sorted(facts):
        record = facts[name]
        table.add_row(
            name,
            record.kind,
            record.summary,
            ", ".join(record.topics),
            ", ".join(record.figures),
            f"${costs[name]:.6f}",
        )
    Console().print(table)
    return facts


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
