"""What the Ray tests' peers are set to (the fixtures are in conftest.py)."""

API_KEY = "sk-ray-test-key-0123456789abcdef"
LIMIT_RPS = 200
"""The shared limit the jobs are given, in requests a second."""
SERVER_RPS = 220
"""The mock server's own per-second limiter: a little above the shared limit, so that
only a client side that let more than its limit through meets it (it answers 429)."""
SERVER_BURST = 30
MODEL = "openai/gpt-4o-mini"
KNOWN_MODELS = ("gpt-4o-mini",)
"""What the mock answers; any other model is its 404."""
ARRIVAL_SPREAD_S = 0.05
"""How much later than its admission (on Redis's clock) a request may reach the server's
clock: the actors' event loops, Ray's processes, Redis and the server share two CPUs, and
a server loop that was held up reads the arrivals it then takes as bunched. The busiest
1-second window of arrivals may so hold the admissions of 1.05 s, and is judged against
``LIMIT_RPS x 1.05 + burst``: 10 requests more at 200 a second (seen: up to 4). The
server's own limiter, which must never refuse in these tests, makes no such allowance."""


def allowed_burst(burst_s: float) -> float:
    """What the busiest window may hold beyond ``LIMIT_RPS``: the limit's burst, and the
    arrivals' spread."""
    return LIMIT_RPS * (burst_s + ARRIVAL_SPREAD_S)
