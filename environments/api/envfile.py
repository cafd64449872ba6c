"""The runtime environment as a dotenv file (SPEC §4).

Lines `KEY="value"`, with backslash, double quote, newline and carriage return escaped, which
python-dotenv's double-quoted values decode back exactly. `$` is written as it is: loaders
that interpolate differ in how (or whether) it can be escaped.
"""

from __future__ import annotations

_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def quote(value: str) -> str:
    return '"' + value.translate(_ESCAPES) + '"'


def render(env: dict[str, str]) -> str:
    return "".join(f"{key}={quote(value)}\n" for key, value in env.items())
