"""Half-price batch jobs from Python: submit, watch, collect (against the mock provider,
whose in-memory server runs each job in about two seconds; with a real provider, jobs
take minutes to hours and answers cost half the live price).

    python examples/batch_jobs.py
"""

from __future__ import annotations

import anyio

import sluicegate

REVIEWS = [
    "The battery lasts two days and the screen is bright.",
    "Shipping took a month. The product itself is fine.",
    "Best headphones I have owned.",
]


async def main() -> dict[str, str]:
    answers: dict[str, str] = {}
    async with sluicegate.Client() as client:
        requests = (
            client.request("mock/fast", f"Classify: {text}", caller_id=f"review-{i}")
            for i, text in enumerate(REVIEWS)
        )
        submitted = await client.batches.submit(requests)
        async for job in client.batches.watch([s.job for s in submitted]):
            print(f"{job.id}: {job.state} ({job.counts.done}/{job.counts.total})")
        for s in submitted:
            job = await client.batches.retrieve(s.job)
            async with client.batches.results(job) as outcomes:
                async for outcome in outcomes:
                    if outcome.response is not None:
                        answer = client.batches.price(outcome.response)  # the batch price
                        print(outcome.custom_id, answer.text, answer.cost)
                        answers[outcome.custom_id] = answer.text
                    else:
                        print(outcome.custom_id, "failed:", outcome.error)
    return answers


if __name__ == "__main__":
    anyio.run(main)
