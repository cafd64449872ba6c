"""Reading an import (SPEC §10): a dotenv file or a JSON object, into the variables to write.

A dotenv file is read with python-dotenv's own parser and without interpolation, so it means
what `dotenv_values(..., interpolate=False)` makes of it. Errors name the line (a file) or the
key (a JSON object) and never quote a line or a value: a bad line may hold a secret. Both the
JSON API and the environment page's "Import .env" form read imports through here.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from dotenv.parser import Binding, parse_stream

from . import crypto, rules
from .errors import Invalid, TooLarge, validated

_NEWLINE = re.compile(r"\r\n|\n|\r")  # python-dotenv's newlines


@dataclass(frozen=True)
class ImportItem:
    key: str
    value: str
    where: str  # what an error about it names: "line 3" in a file, the key in a JSON object


def _line_of(binding: Binding) -> int:
    """The line the binding's text starts on (python-dotenv counts from the blank lines and
    whitespace before it)."""
    text = binding.original.string
    leading = text[: len(text) - len(text.lstrip())]
    return binding.original.line + len(_NEWLINE.findall(leading))


def _check_value(key: str, value: str, *, where: str, label: str) -> None:
    try:
        rules.validate_variable_value(value)
    except ValidationError as exc:  # its message says the size, never the value
        code = exc.code or "invalid_value"
        error = TooLarge if code == "value_too_large" else Invalid
        raise error(f"{label}: {exc.messages[0]}", code=code, field=where) from None


def too_many(where: str) -> TooLarge:
    """An import with more keys than an environment may hold: refused as soon as the key over
    the limit is read, before any query (every key of an import counts towards the limit)."""
    limit = rules.MAX_KEYS_PER_ENVIRONMENT
    return TooLarge(
        f"The import defines more than {limit} variables; an environment holds at most "
        f"{limit} variables and bindings.",
        code="too_many_variables",
        field=where,
    )


def parse_dotenv(text: str) -> list[ImportItem]:
    """The variables a dotenv file defines, in file order. Reading stops at the key over the
    limit, or at the line over MAX_IMPORT_LINES (the grammar costs time per line, a comment's
    too): neither waits for the rest of the file."""
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = len(_NEWLINE.findall(text[: text.index("\x00")])) + 1
        raise Invalid(
            f"Line {line} contains a NUL character.", code="invalid_dotenv", field=f"line {line}"
        )
    items: list[ImportItem] = []
    lines: dict[str, int] = {}
    for read, binding in enumerate(parse_stream(io.StringIO(text)), start=1):
        line = _line_of(binding)
        where = f"line {line}"
        if read > rules.MAX_IMPORT_LINES:
            raise TooLarge(
                f"The file has more than {rules.MAX_IMPORT_LINES} lines (comments included); "
                "that is the limit of an import.",
                code="too_many_lines",
                field=where,
            )
        if binding.error:
            raise Invalid(
                f"Line {line} is not dotenv syntax: write KEY=value, the value optionally in "
                "single or double quotes.",
                code="invalid_dotenv",
                field=where,
            )
        if binding.key is None:  # a comment or a blank line
            continue
        if binding.value is None:
            raise Invalid(
                f"Line {line} has a key and no '='; write KEY= for an empty value.",
                code="invalid_dotenv",
                field=where,
            )
        if len(items) == rules.MAX_KEYS_PER_ENVIRONMENT:
            raise too_many(where)
        try:
            key = rules.validate_new_key(binding.key)
        except ValidationError as exc:  # the key is not quoted: it may be anything
            raise Invalid(
                f"Line {line}: {exc.messages[0]}", code=exc.code or "invalid_key", field=where
            ) from None
        if key in lines:
            raise Invalid(
                f"{key} is defined twice, on lines {lines[key]} and {line}.",
                code="duplicate_key",
                field=where,
            )
        lines[key] = line
        _check_value(key, binding.value, where=where, label=f"Line {line} ({key})")
        items.append(ImportItem(key, binding.value, where))
    if not items:
        raise Invalid("The file defines no variables.", code="empty_import", field="body")
    return items


def parse_object(members: dict[str, object]) -> list[ImportItem]:
    """The variables of a JSON object `{"KEY": "value", …}`, in its order; more keys than an
    environment may hold are refused before any is checked."""
    if len(members) > rules.MAX_KEYS_PER_ENVIRONMENT:
        raise too_many("body")
    items: list[ImportItem] = []
    seen: set[str] = set()
    for name, value in members.items():
        where = name[:200] or "body"
        key = validated(rules.validate_new_key, name, field=where)
        if key in seen:
            raise Invalid(f"{key} appears twice in the object.", code="duplicate_key", field=where)
        seen.add(key)
        if not isinstance(value, str):
            raise Invalid(
                f"The value of {key} must be a string (mark secrets with ?secret_keys=).",
                field=where,
            )
        _check_value(key, value, where=where, label=key)
        items.append(ImportItem(key, value, where))
    if not items:
        raise Invalid("The object defines no variables.", code="empty_import", field="body")
    return items


def parse_secret_keys(given: list[str], items: list[ImportItem]) -> set[str]:
    """The keys `secret_keys` marks as secrets: comma-separated, each one in the import."""
    names = {item.key for item in items}
    keys: set[str] = set()
    for part in ",".join(given).split(","):
        if not part.strip():
            continue
        key = validated(rules.validate_variable_key, part, field="secret_keys")
        if key not in names:
            raise Invalid(
                f"{key} is in secret_keys but the import does not define it.",
                code="unknown_secret_key",
                field="secret_keys",
            )
        keys.add(key)
    return keys


# A previewed import, kept for its confirmation ------------------------------------------------
# The page shows the dry run's diff and a confirm button; the file itself (it may hold secrets)
# is never sent back to the browser. It waits in the user's session, encrypted under the
# keyring and bound to the user, the environment and the preview's random id.


def _preview_context(user_id: int, environment_id: int, preview_id: str) -> str:
    return f"import-preview/{user_id}/{environment_id}/{preview_id}"


def seal_preview(
    text: str, secret_keys: set[str], *, user_id: int, environment_id: int
) -> dict[str, str]:
    preview_id = secrets.token_urlsafe(16)
    blob = crypto.encrypt(
        json.dumps({"text": text, "secret_keys": sorted(secret_keys)}),
        context=_preview_context(user_id, environment_id, preview_id),
    )
    return {"id": preview_id, "sealed": base64.b64encode(blob).decode("ascii")}


def open_preview(
    stored: object, preview_id: str, *, user_id: int, environment_id: int
) -> tuple[str, set[str]] | None:
    """The text and secret keys of the preview `preview_id`, or None when it is not the one
    kept (expired, replaced by a newer preview, another environment's)."""
    if not isinstance(stored, dict) or stored.get("id") != preview_id or not preview_id:
        return None
    try:
        plain = crypto.decrypt(
            base64.b64decode(stored["sealed"]),
            context=_preview_context(user_id, environment_id, preview_id),
        )
    except (crypto.DecryptionError, KeyError, ValueError):
        return None
    kept = json.loads(plain)
    return kept["text"], set(kept["secret_keys"])
