"""User errors: what the user can fix, with the exit code the CLI gives it.

Anything raised as a UserError is printed as one line, `error: <message>`,
and ends the command with its exit code; never a traceback.
"""

from __future__ import annotations

EXIT_USER_ERROR = 2


class UserError(Exception):
    """Bad input from the user: a file, a flag, an argument. The message says what and where."""

    exit_code = EXIT_USER_ERROR
