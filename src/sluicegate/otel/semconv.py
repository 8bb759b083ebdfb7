"""The OpenTelemetry GenAI semantic conventions' names, as this instrumentation uses them.

Followed: the GenAI conventions of semantic-conventions v1.37 and later (the "latest
experimental" set after v1.36: ``gen_ai.provider.name`` in place of ``gen_ai.system``,
``gen_ai.input.messages``/``gen_ai.output.messages`` for opt-in content), checked
against the published pages on 2026-12-03. The names live here alone, so a rename in the
conventions is one edit.
"""

from __future__ import annotations

from sluicegate.errors import ProviderError

OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

CHAT = "chat"
"""The one operation sluicegate's calls are (``gen_ai.operation.name``)."""

# sluicegate's own, under its namespace
ATTEMPT = "sluicegate.attempt"
ATTEMPTS = "sluicegate.attempts"
RETRY_WAIT = "sluicegate.retry.wait"
RATE_LIMIT_WAIT = "sluicegate.rate_limit.wait"
COST = "sluicegate.cost"
CIRCUIT_STATE = "sluicegate.circuit.state"
IDEMPOTENCY_KEY_PRESENT = "sluicegate.idempotency_key.present"
STREAM = "sluicegate.stream"
CLOSED_EARLY = "sluicegate.stream.closed_early"
SLUICEGATE_PROVIDER = "sluicegate.provider"

# metrics
OPERATION_DURATION = "gen_ai.client.operation.duration"
TOKEN_USAGE = "gen_ai.client.token.usage"
CLIENT_COST = "sluicegate.client.cost"

DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
"""The conventions' advised bucket boundaries for ``gen_ai.client.operation.duration``."""
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
"""The conventions' advised bucket boundaries for ``gen_ai.client.token.usage``."""

WELL_KNOWN_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "azure_openai": "azure.ai.openai",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "cohere": "cohere",
    "perplexity": "perplexity",
}
"""sluicegate provider kinds → the conventions' well-known ``gen_ai.provider.name``; a
kind not listed (the mock, a third party's) is named by its sluicegate name."""


def provider_name(kind: str) -> str:
    """``gen_ai.provider.name`` for a provider of ``kind`` (its spec's name: a provider
    configured as ``relay`` with ``kind="openai"`` speaks, and is named, OpenAI)."""
    return WELL_KNOWN_PROVIDERS.get(kind, kind)


def error_type(error: BaseException) -> str:
    """``error.type`` as the conventions ask: the provider's HTTP status as a string when
    there is one, else the provider's or sluicegate's own low-cardinality error type
    (``deadline_exceeded``, ``event_too_large``...), else the exception's class name."""
    if isinstance(error, ProviderError):
        if error.status is not None and error.status >= 400:
            return str(error.status)
        if error.error_type:
            return error.error_type
    return type(error).__qualname__
