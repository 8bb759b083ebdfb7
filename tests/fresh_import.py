"""Whether a module gets imported, asked of a fresh interpreter (this one has imported
everything the suite touched): the check behind "importing X stays cheap" tests."""

from __future__ import annotations

import subprocess
import sys


def loaded_before_and_after(imports: str, use: str, module: str) -> tuple[bool, bool]:
    """Whether ``module`` is in ``sys.modules`` after the statement ``imports`` runs, and
    again after the expression ``use`` is evaluated, in a new Python process."""
    code = (
        f"import sys; {imports}; print({module!r} in sys.modules); "
        f"{use}; print({module!r} in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = out.stdout.split()
    return before == "True", after == "True"
