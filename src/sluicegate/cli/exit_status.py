"""The commands' exit statuses: one number per way a command can end, the same for all.

Scripts branch on these, so each cause has its own number and they never change. Where
several apply to one run, the first of INTERRUPTED, BUDGET, PENDING, SOME_FAILED wins.
Numbers follow sysexits.h where it has one (64-78) and the shell's 128+signal rule.
"""

from __future__ import annotations

from typing import Final

OK: Final = 0
"""Every request was answered."""

SOME_FAILED: Final = 1
"""The command finished, but some requests failed or some input lines were bad (each is
in the errors file)."""

USAGE: Final = 2
"""Bad usage or configuration, found before anything was sent: an unknown option, an
unusable file or path, an invalid setting (the same number click gives a usage error)."""

BUDGET: Final = 3
"""Stopped early: a budget was reached."""

IO_ERROR: Final = 74
"""EX_IOERR: a file could not be written mid-run (a full disk, say); what was written
before stays, and the message names the file."""

PENDING: Final = 75
"""EX_TEMPFAIL: finished, but some lines are pending (a model was unavailable for longer
than the run's patience); running the same command again sends exactly those."""

INTERRUPTED: Final = 130
"""Interrupted (Ctrl-C or SIGTERM), or batch jobs detached; running the same command
again resumes."""

HELP_TEXT: Final = (
    "Exit status: 0 all answered; 1 some requests failed or lines were bad; 2 bad usage "
    "or configuration (nothing sent); 3 stopped by the budget; 74 a file could not be "
    "written; 75 some lines pending (run the same command again); 130 interrupted."
)
"""The paragraph every command's --help ends with."""
