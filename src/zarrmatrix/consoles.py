"""The two consoles the commands print to: messages on stderr, tables on stdout.

Off a terminal, rich would wrap every line at 80 columns. Scripts, CI logs and tests read these lines, so a
message must be one line whatever the length of the paths in it: off a terminal, nothing is wrapped.
"""

from __future__ import annotations

import sys

from rich.console import Console


def message_console() -> Console:
    """Progress, warnings and errors, on stderr; wrapped only on a terminal."""
    return Console(stderr=True, soft_wrap=not sys.stderr.isatty())


def stdout_console() -> Console:
    """Tables for stdout: wide enough for cell ids when piped into a file or a CI log."""
    return Console() if sys.stdout.isatty() else Console(width=180)
