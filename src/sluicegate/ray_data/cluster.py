"""Joining a Ray cluster, or starting a local one bound to 127.0.0.1."""

from __future__ import annotations

import logging
import os

from sluicegate.errors import ConfigError

__all__ = ["connect"]

_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch for single-machine clusters: "0" resolves "this node" to loopback."""


def _is_loopback(address: str) -> bool:
    host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def connect(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """``ray.init`` for sluicegate's jobs: ``address`` of an existing cluster
    (``"127.0.0.1:6379"``, ``"ray://head:10001"``, ``"auto"``), or None for a local
    cluster on this machine, bound to 127.0.0.1 with no dashboard. Ray's usage statistics
    are off unless ``RAY_USAGE_STATS_ENABLED`` says otherwise. Already connected: nothing.
    """
    if address is not None and _is_loopback(address):
        # Ray rewrites a loopback address to this machine's outside address before it
        # connects (clusters are expected to span machines), and so misses a cluster
        # bound to 127.0.0.1. This setting, read when Ray is imported, keeps loopback.
        os.environ.setdefault(_LOOPBACK_ENV, "0")
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray engine needs Ray: pip install 'sluicegate[ray]'") from None
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    else:
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except ConnectionError as exc:
            raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}") from None
