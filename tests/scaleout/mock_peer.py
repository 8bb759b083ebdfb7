"""The mock server in a process of its own, recording arrivals: ``python
tests/scaleout/mock_peer.py '{"latency_s": 0.01}'`` prints its base URL on the first line
and serves until SIGTERM.

Its own process, so that the workers' CPU does not delay its clock readings and theirs
does not delay its answers any more than a real provider's would; any ``MockConfig``
field can be given in the JSON object (``record_arrivals`` is always on), and
``fault_windows``, a list of ``START:END:KIND[:MODEL]`` (:class:`FaultWindow`).
"""

from __future__ import annotations

import json
import sys

from sluicegate.testing import MockConfig, run_mock_server
from sluicegate.testing.faults import FaultPlan, parse_fault_window


def main() -> None:
    fields = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    windows = fields.pop("fault_windows", ())
    if windows:  # "START:END:KIND[:MODEL]", as the mock-server command takes them
        fields["faults"] = FaultPlan(windows=[parse_fault_window(w) for w in windows])
    config = MockConfig(**{**fields, "record_arrivals": True})
    run_mock_server("127.0.0.1", 0, config, on_ready=lambda url: print(url, flush=True))


if __name__ == "__main__":
    main()
