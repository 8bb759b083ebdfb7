"""``sluicegate mock-server``: the OpenAI- and Anthropic-compatible mock over HTTP, for
trying clients (ours or anyone's) with no API key and no network."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from sluicegate.cli import exit_status
from sluicegate.cli.common import CommandError

if TYPE_CHECKING:
    from sluicegate.testing.faults import FaultWindow


def _parse_faults(specs: tuple[str, ...]) -> dict[str, float]:
    from sluicegate.testing.faults import parse_fault_rate

    rates: dict[str, float] = {}
    for spec in specs:
        try:
            kind, rate = parse_fault_rate(spec)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--fault") from None
        rates[kind] = rates.get(kind, 0.0) + rate
    return rates


def _parse_outages(specs: tuple[str, ...]) -> list[FaultWindow]:
    from sluicegate.testing.faults import parse_fault_window

    windows: list[FaultWindow] = []
    for spec in specs:
        try:
            windows.append(parse_fault_window(spec))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--outage") from None
    return windows


@click.command("mock-server", epilog=exit_status.HELP_TEXT)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="0 picks one."
)
@click.option(
    "--latency",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds before the first byte of each answer.",
)
@click.option(
    "--per-token-latency",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between streamed tokens (per output token for plain answers).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="KIND=RATE",
    help="Inject a fault into this fraction of requests, e.g. rate_limit=0.1 (repeatable). "
    "Kinds: rate_limit, rate_limit_bare, rate_limit_zero, quota, server_error, overloaded, "
    "bad_request, auth, hang, cut_stream, malformed, stream_error.",
)
@click.option(
    "--outage",
    "outages",
    multiple=True,
    metavar="START:END:KIND[:MODEL]",
    help="Give every request (of MODEL, as the body names it, e.g. fast) the fault KIND from "
    "START to END seconds after the server started; END empty: for ever (repeatable; the "
    "first matching one wins). E.g. 10:70:overloaded:fast.",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed of the fault draws (reproducible)."
)
@click.option(
    "--require-api-key",
    default=None,
    envvar="SLUICEGATE_MOCK_API_KEY",
    metavar="KEY",
    help="Refuse requests without this key (Bearer for OpenAI, x-api-key for Anthropic). "
    "Also read from SLUICEGATE_MOCK_API_KEY, which keeps it out of the process list.",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Accept only these model names (repeatable); by default any name is accepted.",
)
@click.option(
    "--rpm",
    default=None,
    type=click.IntRange(min=1),
    help="Requests per minute per model; above it, 429 with Retry-After and x-ratelimit headers.",
)
@click.option(
    "--tpm",
    default=None,
    type=click.IntRange(min=1),
    help="Tokens (input + output) per minute per model; above it, 429 with Retry-After.",
)
@click.option(
    "--limit-rps",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="An nginx limit_req in front of the server (one key for all clients), in requests "
    "per second; above it, nginx's HTML 429 with no Retry-After.",
)
@click.option(
    "--limit-burst",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="limit_req's burst (nodelay): requests beyond --limit-rps that may arrive at once.",
)
@click.option(
    "--idempotency-records",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Answers kept to replay, uncharged, to a plain request whose Idempotency-Key was "
    "already answered (0: off).",
)
@click.option(
    "--batch-seconds",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="How long a batch job (OpenAI batch, Anthropic Message Batch) takes to end.",
)
@click.option(
    "--batch-item-failure-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of batch items that fail; decided per custom_id and submission (seeded), "
    "so a resubmitted item gets a fresh draw.",
)
@click.option(
    "--batch-item-expiry-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of batch items that expire, decided like failures.",
)
@click.option(
    "--batch-failure-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of batch jobs that fail as a whole (OpenAI: status failed; Anthropic: "
    "every item errored).",
)
@click.option(
    "--batch-max-requests",
    default=None,
    type=click.IntRange(min=1),
    help="Requests per batch job for both providers (default: the real limits, 50,000 for "
    "OpenAI and 100,000 for Anthropic).",
)
@click.option(
    "--batch-max-bytes",
    default=None,
    type=click.IntRange(min=1),
    help="Bytes per batch input for both providers (default: the real limits, 200 MB for "
    "OpenAI and 256 MB for Anthropic).",
)
@click.option(
    "--invalid-json-answers",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Asks of a conversation that asks for JSON answered with prose or the wrong "
    "shape before a valid answer: to see re-asks.",
)
def command(
    host: str,
    port: int,
    latency: float,
    per_token_latency: float,
    faults: tuple[str, ...],
    outages: tuple[str, ...],
    seed: int,
    require_api_key: str | None,
    models: tuple[str, ...],
    rpm: int | None,
    tpm: int | None,
    limit_rps: float | None,
    limit_burst: int,
    idempotency_records: int,
    batch_seconds: float,
    batch_item_failure_rate: float,
    batch_item_expiry_rate: float,
    batch_failure_rate: float,
    batch_max_requests: int | None,
    batch_max_bytes: int | None,
    invalid_json_answers: int,
) -> None:
    """Run the mock LLM server (OpenAI Chat Completions and Anthropic Messages, plain and
    streamed, and both providers' batch APIs) until Ctrl+C. Answers are deterministic;
    usage counts are exact."""
    from sluicegate.testing.faults import FaultPlan
    from sluicegate.testing.mock_app import MockConfig
    from sluicegate.testing.server import run_mock_server

    windows = _parse_outages(outages)
    try:
        plan = FaultPlan(rates=_parse_faults(faults), seed=seed, windows=windows)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from None
    limits: dict[str, int] = {}
    if batch_max_requests is not None:
        limits["openai_batch_max_requests"] = batch_max_requests
        limits["anthropic_batch_max_requests"] = batch_max_requests
    if batch_max_bytes is not None:
        limits["openai_batch_max_bytes"] = batch_max_bytes
        limits["anthropic_batch_max_bytes"] = batch_max_bytes
    try:
        config = MockConfig(
            latency_s=latency,
            per_token_latency_s=per_token_latency,
            faults=plan,
            require_api_key=require_api_key or None,
            models=models or None,
            rpm=rpm,
            tpm=tpm,
            limit_rps=limit_rps,
            limit_burst=limit_burst,
            idempotency_records=idempotency_records,
            batch_seconds=batch_seconds,
            batch_item_failure_rate=batch_item_failure_rate,
            batch_item_expiry_rate=batch_item_expiry_rate,
            batch_failure_rate=batch_failure_rate,
            batch_seed=seed,
            invalid_json_answers=invalid_json_answers,
            **limits,  # type: ignore[arg-type]  # all int fields
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    def announce(base_url: str) -> None:
        key_note = (
            "requests must carry the key you gave (OPENAI_API_KEY, ANTHROPIC_API_KEY, "
            "GEMINI_API_KEY)"
            if config.require_api_key
            else "any API key is accepted"
        )
        click.echo(f"sluicegate mock server listening on {base_url}")
        click.echo(f"  export OPENAI_BASE_URL={base_url}/v1")
        click.echo(f"  export ANTHROPIC_BASE_URL={base_url}")
        click.echo(f"  export GEMINI_BASE_URL={base_url}/v1beta")
        click.echo(f"  {key_note}; stats at {base_url}/_mock/stats")
        if rpm or tpm:
            limits = ", ".join(
                f"{value} {name}" for name, value in (("RPM", rpm), ("TPM", tpm)) if value
            )
            click.echo(f"  rate limits per model: {limits}")
        if limit_rps is not None:
            click.echo(f"  nginx limit_req: {limit_rps:g} r/s, burst {limit_burst} (nodelay)")
        for window in plan.windows:
            span = f"from {window.start_s:g}s" + (
                " on" if window.end_s is None else f" to {window.end_s:g}s"
            )
            who = f"model {window.model}" if window.model else "every model"
            click.echo(f"  outage: {window.kind} {span}, {who}")
        if plan.rates:
            rates = ", ".join(f"{kind}={rate:g}" for kind, rate in plan.rates.items())
            click.echo(f"  faults: {rates} (seed {seed})")
        click.echo(
            f"  batch jobs take {batch_seconds:g}s; up to "
            f"{config.openai_batch_max_requests} (OpenAI) / "
            f"{config.anthropic_batch_max_requests} (Anthropic) requests each; items "
            f"fail {batch_item_failure_rate:g}, expire {batch_item_expiry_rate:g}, "
            f"jobs fail {batch_failure_rate:g}"
        )
        click.echo("Press Ctrl+C to stop.")

    try:
        run_mock_server(host, port, config, on_ready=announce)
    except OSError as exc:
        message = f"cannot listen on {host}:{port}: {exc.strerror}"
        raise CommandError(message, exit_status.USAGE) from None
