"""The commands' exit statuses: one number per way a command can end, the same for all.

Scripts branch on these, so each cause has its own number and they never change. Where
several apply to one run, the first of INTERRUPTED, BUDGET, PENDING, SOME_FAILED wins.
Numbers follow sysexits.h where it has one (64-78) and the shell's 128+signal rule.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
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

_WRITE_ERRNOS: Final = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS, errno.EPIPE}
)
"""Errors of a file that opened but could not take what was written to it: a full disk or
quota, a failing device, a file system remounted read-only. Any other OSError (no such
file, permission denied, a directory) is about which path was given: USAGE."""


def of_error(error: BaseException) -> int:
    """The status of a command stopped by ``error`` (one that ended the whole command,
    not one request among many)."""
    from sluicegate.errors import (
        AuthenticationError,
        BadInputError,
        BudgetExceededError,
        ConfigError,
    )

    if isinstance(error, BudgetExceededError):
        return BUDGET
    if isinstance(error, ConfigError | BadInputError):
        return USAGE
    if isinstance(error, AuthenticationError) and error.status is None:
        return USAGE  # no key configured: refused before sending, not a server's 401
    if isinstance(error, OSError):
        return IO_ERROR if error.errno in _WRITE_ERRNOS else USAGE
    return SOME_FAILED


def of_answers(errors: Sequence[BaseException | None]) -> int:
    """The status of a command that asked several models (``fanout``, ``compare``): one
    ``None`` or error per model. OK when all answered; USAGE when every model failed for
    a reason found before sending (unknown provider, bad setting), since then nothing was
    asked; BUDGET when a budget refused one; otherwise SOME_FAILED."""
    failed = [of_error(e) for e in errors if e is not None]
    if not failed:
        return OK
    if len(failed) == len(errors) and set(failed) == {USAGE}:
        return USAGE
    return BUDGET if BUDGET in failed else SOME_FAILED
