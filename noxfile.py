"""Developer sessions: tests on both backends, lint, type check, the plugins' own tests,
the documentation site.

Run ``nox`` for all, or ``nox -s tests`` for one. CI runs the README's test command.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

PLUGINS = ["plugins/sluicegate-anthropic", "plugins/sluicegate-gemini"]
# the documentation site's tools, as in pyproject's test extra (which has much more)
DOCS = ["mkdocs>=1.6", "mkdocs-material>=9.6", "mkdocstrings[python]>=1.0"]


@nox.session(python="3.11")
@nox.parametrize("backend", ["asyncio", "trio"])
def tests(session: nox.Session, backend: str) -> None:
    """The core test suite on one event loop (each async test is parametrised over both;
    ``-k`` narrows it to this session's backend)."""
    session.install("-e", ".[test]", *[arg for p in PLUGINS for arg in ("-e", p)])
    session.run("pytest", "tests", "-k", backend, *session.posargs)


@nox.session(python="3.11")
def plugins(session: nox.Session) -> None:
    """Each plugin's own tests, against the core installed from this checkout."""
    session.install("-e", ".[test]", *[arg for p in PLUGINS for arg in ("-e", p)])
    for plugin in PLUGINS:
        session.run("pytest", f"{plugin}/tests", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff: style, imports, and the ban on asyncio/trio imports in src/."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", "src", "tests", "plugins", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "plugins", "bench", "noxfile.py")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/ and the plugins' src/."""
    session.install("-e", ".[dev]", *[arg for p in PLUGINS for arg in ("-e", p)])
    session.run("mypy", "src/sluicegate")
    for plugin in PLUGINS:
        session.run("mypy", "--strict", f"{plugin}/src")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The documentation site, built as the tests build it (``mkdocs build --strict``, into
    site/); ``nox -s docs -- serve`` serves it on 127.0.0.1:8000, rebuilt on each change
    (warnings shown, not fatal, while editing)."""
    session.install("-e", ".", *[arg for p in PLUGINS for arg in ("-e", p)], *DOCS)
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The HTTP client benchmark against peers (minutes; prints ratios)."""
    session.install("-e", ".[test]", "uvloop", "httptools")
    session.run("python", "bench/http_clients.py", *session.posargs)


@nox.session(python="3.11")
def bench_store(session: nox.Session) -> None:
    """What the shared Redis store costs against the in-memory store (about 3 minutes;
    ``-- --quick`` for a smoke run; needs Debian's redis-server)."""
    session.install("-e", ".[test]", "uvloop", "httptools")
    session.run("python", "bench/shared_store.py", *session.posargs)
