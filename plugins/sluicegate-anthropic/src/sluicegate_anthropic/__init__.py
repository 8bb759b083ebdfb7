"""sluicegate-anthropic: the Anthropic Messages API as a sluicegate provider.

Installed, it registers the ``anthropic`` provider kind through the ``sluicegate`` entry
point, so ``client.chat("anthropic/claude-...", ...)`` works with ``ANTHROPIC_API_KEY``
set. The codec is importable for direct use and tests::

    from sluicegate_anthropic.codec import AnthropicProvider
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
