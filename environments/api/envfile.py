"""The runtime environment as a dotenv file (SPEC §4) or a POSIX shell script (SPEC §11).

Lines `KEY="value"`, with backslash, double quote, newline and carriage return escaped, which
python-dotenv's double-quoted values decode back exactly. `$` is written as it is: loaders
that interpolate differ in how (or whether) it can be escaped.

The shell format is lines `export KEY='value'`: inside single quotes a POSIX shell takes every
character literally (newlines, `$`, backticks, backslashes), and a `'` is written `'\\''` (close
the quote, an escaped quote, reopen). Keys are validated names, so they need no quoting.
"""

from __future__ import annotations

_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def quote(value: str) -> str:
    return '"' + value.translate(_ESCAPES) + '"'


def render(env: dict[str, str]) -> str:
    return "".join(f"{key}={quote(value)}\n" for key, value in env.items())


def shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def render_shell(env: dict[str, str]) -> str:
    return "".join(f"export {key}={shell_quote(value)}\n" for key, value in env.items())
