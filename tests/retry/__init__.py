"""Tests of the retry and deadline stages, the backoff schedule and the retry budget."""
