"""Write the local `.env` that `make run` needs, with freshly generated keys.

    python3 project/local_env.py .env

Standard library only, so that any Python 3 runs it. The file holds SECRET_KEY and
ENCRYPTION_KEYS, which decrypt everything in .data/: it is created readable by its owner only
(0600, whatever the umask) and never overwritten.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path


def contents() -> str:
    encryption_key = base64.b64encode(secrets.token_bytes(32)).decode()
    return (
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"ENCRYPTION_KEYS=local1:{encryption_key}\n"
    )


def write(path: Path) -> None:
    """Create `path` with mode 0600; FileExistsError if it exists (it holds the only keys)."""
    # Created 0600 rather than chmod-ed after: no moment when another user could open it.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(contents())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 project/local_env.py PATH")
    try:
        write(Path(sys.argv[1]))
    except FileExistsError:
        sys.exit(f"{sys.argv[1]} exists already; it holds the keys to .data/, so it is kept.")
    print(f"wrote {sys.argv[1]} with a generated SECRET_KEY and ENCRYPTION_KEYS (mode 0600)")
