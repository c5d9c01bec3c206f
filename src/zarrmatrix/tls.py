"""The CA bundle to trust behind a TLS-intercepting proxy: one lookup for the index client, image builds and npm.

The host trusts such a proxy through a bundle its tools are pointed at; zarrmatrix looks where they look, in the
order pip and requests do, after its own variable.
"""

from __future__ import annotations

import os
from pathlib import Path

CA_ENV = ("ZARRMATRIX_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def ca_bundle(first: str | None = None, env: dict[str, str] | None = None) -> Path | None:
    """`first` where it names a file, else the first of CA_ENV that does; None where none does."""
    env = os.environ if env is None else env
    for candidate in (first, *(env.get(name) for name in CA_ENV)):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None
