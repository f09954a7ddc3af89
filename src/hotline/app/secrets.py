"""The node's secret key: made once, kept in the data directory (mode 0600).

It keys the digest nonces (so they stay valid across a restart and across
nodes that share the data) and, later, session cookies and feed signatures.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from hotline.core.errors import ConfigurationError

__all__ = ["load_or_create_secret"]

SECRET_FILE = "secret.key"
SECRET_BYTES = 32


def load_or_create_secret(data_dir: Path) -> bytes:
    """The 32-byte node secret, created on first use."""
    path = data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raw = path.read_bytes()
        if len(raw) != SECRET_BYTES:
            raise ConfigurationError(
                "HOTLINE_DATA_DIR", f"{path} is damaged (expected {SECRET_BYTES} bytes)"
            ) from None
        return raw
    key = secrets.token_bytes(SECRET_BYTES)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
