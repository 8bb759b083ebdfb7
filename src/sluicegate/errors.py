"""The one error hierarchy: a subclass per cause, each saying what went wrong and where.

Callers catch :class:`SluicegateError` for everything, or a subclass for one cause; the
retry middleware reads :attr:`SluicegateError.retryable` instead of guessing from types.
Every message passes through :func:`sluicegate.secrets.scrub`, so a key can never ride
out in an exception text, even when a server echoes it back in an error body. So does
every attribute an error is given (``detail``, ``headers``, ``partial_text``, a subclass's
own), when it is set, and the state a pickle carries: the scrub is in the base class, so
no subclass or later assignment can forget it. Foreign exceptions (a transport's, a JSON
decoder's, which may quote a body or a header) are cut from the cause/context chain by
:func:`detach_foreign` where they enter, the terminal stage; what they said that matters
is in the message, scrubbed.

Where errors are defined: the roots (:class:`SluicegateError`, :class:`ConfigError`,
:class:`BadInputError`, :class:`ProviderError`) and the errors several concerns raise are
here. An error that belongs to one concern lives in that concern's package, next to the
code that raises it, and is exported from ``sluicegate``:

- :class:`~sluicegate.breaker.errors.CircuitOpenError` in ``breaker/errors.py``;
- :class:`~sluicegate.limits.errors.RequestTooLargeError` in ``limits/errors.py``;
- :class:`~sluicegate.middleware.fallback.AllModelsFailedError` in the fallback stage;
- :class:`~sluicegate.bulk.availability.ModelUnavailableError` and the file errors of a
  bulk run (``bulk/file_errors.py``) in ``bulk/``.

docs/errors.md lists them all with what each means.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sluicegate.secrets import scrub, scrub_mapping, scrub_value


class SluicegateError(Exception):
    """Base of every error sluicegate raises."""

    retryable: bool = False
    attempts: int | None = None
    """For an error an attempt ended with: that attempt's number (1 for the first; the
    retry stage's last one when it gave up). None for errors raised before sending."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))

    def __setattr__(self, name: str, value: object) -> None:
        # Dunder names are the interpreter's (``__notes__``, ``__cause__``...): add_note
        # appends to the list it stored, so that list must be kept as it is.
        if not name.startswith("__"):
            if isinstance(value, Mapping):  # read-only: nothing written later escapes it
                value = MappingProxyType(scrub_mapping(value))
            else:
                value = scrub_value(value)
        super().__setattr__(name, value)

    def add_note(self, note: str, /) -> None:
        super().add_note(scrub(note))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__ (whose signature differs per subclass), from
        # state scrubbed again: a dict or list attribute may have been changed in place.
        return (_rebuild, (type(self), scrub_value(self.__dict__), scrub_value(self.args)))


def _rebuild(cls: type[SluicegateError], state: dict[str, Any], args: tuple[Any, ...]) -> Any:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    for name, value in state.items():
        setattr(err, name, value)
    return err


def detach_foreign(error: BaseException) -> None:
    """Cut every exception that is not a sluicegate error out of ``error``'s cause and
    context chain, at any depth.

    A transport's or a decoder's exception may quote what the server sent (a
    ``JSONDecodeError`` keeps the whole body in ``doc``) or the request (a header with
    the key in it), and sluicegate cannot scrub a foreign object's attributes. Errors made
    from one are raised ``from None`` already, so this hides nothing a traceback showed;
    it only drops the ``__context__`` Python keeps anyway. Called once per failed attempt.
    """
    seen: set[int] = set()
    pending = [error]
    while pending:
        link = pending.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        cause, context = link.__cause__, link.__context__
        if cause is not None:
            if isinstance(cause, SluicegateError):
                pending.append(cause)
            else:
                link.__cause__ = None
        if context is not None:
            if isinstance(context, SluicegateError):
                pending.append(context)
            else:
                link.__context__ = None


class ConfigError(SluicegateError):
    """The client was configured wrongly (unknown provider, missing key, bad option)."""


class PluginError(ConfigError):
    """A plugin failed to import or to register; names the plugin."""

    def __init__(self, plugin: str, reason: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r} could not be loaded: {reason}")


class BadInputError(SluicegateError, ValueError):
    """Input the caller gave is malformed; names the field and, for files, where."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self.field = field
        self.file = file
        self.line = line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(f"{where}{message}")


class ProviderError(SluicegateError):
    """The provider answered with an error, or its answer could not be understood.

    ``status`` is the HTTP status (None when no response came), ``error_type`` the
    provider's own error code (``insufficient_quota``, ``overloaded_error``...), and
    ``retry_after`` the server's requested wait in seconds, when it gave one; ``detail``
    is the provider's own message, without the provider/model/status prefix; ``headers``
    the answer's rate-limit headers (see ``Response.headers``), for the rate limiter.
    """

    headers: Mapping[str, str] = MappingProxyType({})
    """(Class default, for subclasses that set their fields without this ``__init__``.)"""
    answer: Any = None
    """The whole HTTP answer (an :class:`~sluicegate.transports.base.HttpResponse`) this
    error was made from, when a codec keeps it: the SDK transport (:mod:`sluicegate.sdk`)
    hands it back to the SDK so that the SDK raises its own typed error. None otherwise."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str,
        status: int | None = None,
        error_type: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.status = status
        self.error_type = error_type
        self.retryable = retryable
        self.retry_after = retry_after
        self.request_id = request_id
        if headers:
            self.headers = headers
        self.detail = message
        parts = [f"HTTP {status}"] if status is not None else []
        if error_type:
            parts.append(error_type)
        prefix = f"{' '.join(parts)}: " if parts else ""
        super().__init__(f"{provider}/{model}: {prefix}{message}")


class AuthenticationError(ProviderError):
    """The key is missing, wrong, or lacks permission (401/403). Never retried."""


class RateLimitedError(ProviderError):
    """The provider said 429. Retryable unless the cause is billing (``insufficient_quota``)."""


class TransportError(ProviderError):
    """The request did not complete at the HTTP level (connection refused, reset, cut)."""


class RequestTimeoutError(ProviderError):
    """A timeout passed before the provider answered (or between stream events)."""


class StreamError(ProviderError):
    """A stream failed after it began; ``partial_text`` keeps what arrived before.

    ``cost`` is what the cut stream is charged (USD, estimated from the text counted
    before the cut; None when unknown), stamped by the cost stage.
    """

    def __init__(self, message: str, *, partial_text: str = "", **kwargs: Any) -> None:
        self.partial_text = partial_text
        self.cost: float | None = None
        super().__init__(message, **kwargs)


class ContentBlockedError(ProviderError):
    """The provider refused to answer for its content rules: a prompt blocked before any
    answer, or an answer stopped by a safety filter with nothing usable in it (Gemini's
    ``promptFeedback.blockReason``, a ``SAFETY``/``PROHIBITED_CONTENT`` finish). Not
    retryable: the same request gets the same refusal. ``reason`` is the provider's own
    word for it (``SAFETY``, ``BLOCKLIST``...) and ``categories`` the rules it named
    (``HARM_CATEGORY_HARASSMENT``...)."""

    def __init__(
        self, message: str, *, reason: str, categories: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        self.reason = reason
        self.categories = categories
        super().__init__(message, **kwargs)


class ResponseFormatError(ProviderError):
    """The provider's answer was not in the format its codec expects (malformed body)."""


class ResponseTooLargeError(ResponseFormatError):
    """An answer passed a size bound, and was not read further: a plain body past
    ``Client(max_response_bytes=...)`` (``error_type="response_too_large"``). Not
    retryable: the same request would get the same answer. (A stream event past
    ``max_event_bytes`` is a :class:`StreamError` with ``error_type="event_too_large"``,
    since a stream keeps the text that came before.)"""


def _usd(amount: float) -> str:
    """An amount of USD for a message: cents for large amounts, significant digits for
    the fractions of a cent that single requests cost."""
    return f"${amount:,.4f}" if amount >= 0.01 else f"${amount:.3g}"


class StructuredAnswerError(SluicegateError):
    """A model's answer that should have been JSON of a given shape is not, even after
    repair: no JSON in it, or JSON that the schema refuses. ``answer`` is the text as
    received (scrubbed), ``problems`` what the schema said, field by field, which is what
    a re-ask tells the model.

    Raised by a call with ``response_format=`` after its last re-ask, it also carries
    ``asks`` (how many times the model was asked), ``attempts`` (HTTP attempts over all
    asks) and ``cost`` (USD spent on them all, None when a price is unknown): the answers
    were paid for even though none fitted."""

    def __init__(
        self,
        message: str,
        *,
        answer: str = "",
        problems: tuple[str, ...] = (),
        asks: int = 1,
        attempts: int = 0,
        cost: float | None = None,
    ) -> None:
        self.answer = answer
        self.problems = problems
        self.asks = asks
        self.attempts = attempts
        self.cost = cost
        super().__init__(message)


class BudgetExceededError(SluicegateError):
    """A request was refused before it was sent: its estimated worst-case cost would take
    a budget past its limit. Not retryable (retrying cannot make room; requests in flight
    finishing may, and then a new call is admitted).

    ``budget`` names the budget (``"client"``, ``"tag NAME"``, or a run budget's name);
    ``limit``, ``spent`` and ``reserved`` (held by requests in flight) are its state in
    USD when the request was refused; ``estimate`` is the request's reservation and
    ``model`` the model it asked for.
    """

    def __init__(
        self,
        *,
        budget: str,
        limit: float,
        spent: float,
        reserved: float,
        estimate: float,
        model: str,
        detail: str = "",
    ) -> None:
        self.budget = budget
        self.limit = limit
        self.spent = spent
        self.reserved = reserved
        self.estimate = estimate
        self.model = model
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"budget {budget!r} of {_usd(limit)} would be exceeded by a request to {model}: "
            f"spent {_usd(spent)}, reserved {_usd(reserved)} by requests in flight, this "
            f"request's estimate {_usd(estimate)}{extra}; nothing was sent"
        )


class UnknownPriceError(ConfigError):
    """A request under a budget names a model (or a fallback) without a price: its cost
    could not be bounded, so it was refused before sending. Add the model to a price file
    (``Client(prices=...)``, ``SLUICEGATE_PRICES``)."""

    def __init__(self, *, model: str, budget: str) -> None:
        self.model = model
        self.budget = budget
        super().__init__(
            f"model {model!r} has no price, so a request under budget {budget!r} cannot be "
            "bounded and was refused before sending; give the model a price in a price "
            "file (Client(prices=...) or SLUICEGATE_PRICES; see 'sluicegate prices')"
        )


class BatchItemError(ProviderError):
    """One item of a provider batch job ended without an answer, for a reason of the batch
    itself rather than an HTTP error of its own (those keep their usual types, status
    included). ``error_type`` says which: ``expired`` (the job's window closed first),
    ``canceled`` (the job was cancelled before the item ran), ``job_failed`` (the whole job
    failed, e.g. at validation), ``missing`` (the job ended without a result line for it),
    or the provider's own code (``request_timeout``). ``job_id`` names the job."""

    def __init__(self, message: str, *, job_id: str = "", **kwargs: Any) -> None:
        self.job_id = job_id
        super().__init__(message, **kwargs)


class BatchUnsupportedError(ConfigError):
    """Batch mode was asked of a provider that declares no batch API."""

    def __init__(self, provider: str, kind: str, known: str) -> None:
        self.provider = provider
        super().__init__(
            f"provider {provider!r} (kind {kind!r}) has no batch API, so its requests cannot "
            f"run in batch mode; providers with one: {known or 'none'} (run it live instead)"
        )
