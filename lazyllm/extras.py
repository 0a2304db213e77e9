"""What the command line and the harness share: the error a command prints in one line, and the check
for an optional dependency (an extra of pyproject.toml: ``[eval]``, ``[app]``)."""

from __future__ import annotations

import importlib.util

DISTRIBUTION = "lazyllm-explorer"  # pyproject's [project] name; the import package is `lazyllm`


class CliError(Exception):
    """A problem with the command line's input; printed without a traceback."""


def require_extra(command: str, extra: str, *modules: str) -> None:
    """One clear line (exit 2) when an optional dependency of a command is not installed."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise CliError(
            f"`lazyllm {command}` needs the [{extra}] extra ({', '.join(missing)} not installed): "
            f"pip install '{DISTRIBUTION}[{extra}]'"
        )
