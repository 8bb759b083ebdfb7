"""The Google Gemini API (``generateContent``, ``streamGenerateContent``) as a sluicegate
provider: ``pip install sluicegate-gemini``, then ``gemini/gemini-2.5-flash``."""

from sluicegate_gemini.plugin import SPEC

__all__ = ["SPEC"]
