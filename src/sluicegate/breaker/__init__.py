"""The circuit breaker: stop sending to an endpoint that is failing, probe it later.

- :mod:`~sluicegate.breaker.policy`: :class:`BreakerPolicy` and the rule for which
  errors count as the endpoint's failures;
- :mod:`~sluicegate.breaker.state`: the state machine, pure and synchronous, one per
  provider/model endpoint;
- :mod:`~sluicegate.breaker.errors`: :class:`CircuitOpenError`;
- :mod:`~sluicegate.breaker.stage`: the breaker stage (phase BREAKER), inside retry.
"""

from sluicegate.breaker.errors import CircuitOpenError
from sluicegate.breaker.policy import BreakerPolicy, counts_as_failure
from sluicegate.breaker.state import BreakerSnapshot, CircuitBreaker, CircuitState

__all__ = [
    "BreakerPolicy",
    "BreakerSnapshot",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "counts_as_failure",
]
