"""Messages that scripts, CI logs and tests read are one line whatever the terminal (or its absence)."""

import pytest

from zarrmatrix.consoles import message_console


@pytest.mark.parametrize("length", range(40, 200, 7))
def test_a_message_off_a_terminal_is_never_wrapped(capsys, length):
    path = "/tmp/" + "d" * length + "/matrix.lock.json"
    message_console().print(f"{path}: 2 versions rules; `--locked` (or ZARRMATRIX_LOCKED=1) reuses them")
    err = capsys.readouterr().err
    assert err == f"{path}: 2 versions rules; `--locked` (or ZARRMATRIX_LOCKED=1) reuses them\n"
