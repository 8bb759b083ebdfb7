"""The config file, ``sluicegate.toml``: named providers and prices (see
:mod:`sluicegate.config.file`), and which file applies (:mod:`sluicegate.config.discover`).
See docs/config.md."""

from sluicegate.config.discover import CONFIG_ENV, FILE_NAME, Found, find_config
from sluicegate.config.file import Config, ConfiguredProvider, load_config

__all__ = [
    "CONFIG_ENV",
    "FILE_NAME",
    "Config",
    "ConfiguredProvider",
    "Found",
    "find_config",
    "load_config",
]
