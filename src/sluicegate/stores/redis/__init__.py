"""The shared store in Redis: state that every process sharing an API key must see.

:class:`RedisStore` is the setting (``Client(store=RedisStore(...))``, or just the URL);
:mod:`.connection` the client's live connection; :mod:`.scripts` the Lua that runs in
Redis; :mod:`.keys` how keys are named (by a digest of the API key, never the key).
"""

from sluicegate.stores.redis.config import ENV_STORE, RedisStore, store_from_setting

__all__ = ["ENV_STORE", "RedisStore", "store_from_setting"]
