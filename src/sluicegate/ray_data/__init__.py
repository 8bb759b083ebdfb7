"""Bulk jobs on Ray Data (``pip install 'sluicegate[ray]'``): every row of a dataset
through a model, in an actor pool whose actors share limits, circuits, budgets and
idempotency through the Redis store. See docs/scale-out.md.

::

    import ray, sluicegate.ray_data as sg

    ds = ray.data.read_json("reviews.jsonl")            # rows: id, prompt, ...
    out = sg.map_chat(ds, model="openai/gpt-4o-mini", actors=4, rpm=5000,
                      store="redis://redis.internal:6379/0")
    out.write_parquet("answers/")                       # + response_text, error_type...
"""

from sluicegate.ray_data.cluster import connect
from sluicegate.ray_data.columns import RESULT_COLUMNS
from sluicegate.ray_data.job import map_chat
from sluicegate.ray_data.processor import ChatProcessor, ChatSettings

__all__ = ["RESULT_COLUMNS", "ChatProcessor", "ChatSettings", "connect", "map_chat"]
