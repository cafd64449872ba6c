"""Validation rules, written once: the forms, the JSON API, the services and the models use them.

Each `validate_*` returns the normalised value or raises `django.core.exceptions.ValidationError`
with a human message (never containing a secret value) and a `code`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import idna
from django.core.exceptions import ValidationError

DEPLOYMENT_NAME_RE = r"^[a-z0-9-]{1,63}$"
ENVIRONMENT_NAME_RE = r"^[a-z0-9][a-z0-9-]{0,62}(/[a-z0-9][a-z0-9._-]{0,62})?$"
VARIABLE_KEY_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,255}$"
# A shared group's name (SPEC §19): like a deployment's, never an environment's.
GROUP_NAME_RE = r"^[a-z0-9][a-z0-9-]{0,62}$"
RESERVED_PREFIX = "MIOSA_"

PRODUCTION = "production"
STAGING = "staging"
PROTECTED_ENVIRONMENTS = (PRODUCTION, STAGING)
PREVIEW_PREFIX = "preview/"

MAX_VALUE_BYTES = 32 * 1024
MAX_ENVIRONMENT_BYTES = 64 * 1024
MAX_KEYS_PER_ENVIRONMENT = 500
# A dotenv import is read statement by statement; reading stops at this many (comments
# included) with 413 too_many_lines, as it stops at the key over MAX_KEYS_PER_ENVIRONMENT.
MAX_IMPORT_LINES = 5_000
MAX_VERSION_LABEL = 200
MAX_ENVIRONMENTS_PER_DEPLOYMENT = 200
MAX_VERSION_NOTES_BYTES = 4 * 1024
# Numbers in paths and bodies (versions, releases, revisions, ids) are PostgreSQL integers.
MAX_NUMBER = 2**31 - 1
# A scheduled rotation: every 1 to this many days (ten years).
MAX_ROTATE_EVERY_DAYS = 3650

SECRET_PREVIEW = "••••"
PREVIEW_CHARS = 8

_deployment_name = re.compile(DEPLOYMENT_NAME_RE)
_environment_name = re.compile(ENVIRONMENT_NAME_RE)
# What the API addresses under an environment's path (environments/api/urls.py).
ENVIRONMENT_SUBRESOURCES = frozenset({"groups", "protection"})
_variable_key = re.compile(VARIABLE_KEY_RE)
_group_name = re.compile(GROUP_NAME_RE)
_label = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def validate_deployment_name(name: str) -> str:
    if not isinstance(name, str):
        raise ValidationError("The name must be a string.", code="invalid_deployment_name")
    name = name.strip()
    if not _deployment_name.match(name):
        raise ValidationError(
            "Use 1-63 lower-case letters, digits or hyphens.", code="invalid_deployment_name"
        )
    return name


def validate_environment_name(name: str) -> str:
    if not isinstance(name, str):
        raise ValidationError(
            "The environment name must be a string.", code="invalid_environment_name"
        )
    name = name.strip()
    if not _environment_name.match(name):
        raise ValidationError(
            "Use lower-case letters, digits and hyphens, optionally with one '/' part "
            "(for example qa, canary or preview/pr-42).",
            code="invalid_environment_name",
        )
    if ".." in name:
        # The name is a URL path segment in the API (…/environments/preview/pr-42).
        raise ValidationError(
            "An environment name may not contain '..'.", code="invalid_environment_name"
        )
    prefix, _, part = name.partition("/")
    if part in ENVIRONMENT_SUBRESOURCES:
        # …/environments/qa/groups is qa's groups: an environment so named could not be
        # addressed (deleted) through the API.
        raise ValidationError(
            f"An environment name may not end in '/{part}': the API reads "
            f"…/environments/{name} as {prefix}'s {part}.",
            code="invalid_environment_name",
        )
    return name


def validate_group_name(name: str) -> str:
    if not isinstance(name, str):
        raise ValidationError("The group name must be a string.", code="invalid_group_name")
    name = name.strip()
    if not _group_name.match(name):
        raise ValidationError(
            "Use 1-63 lower-case letters, digits or hyphens, starting with a letter or digit.",
            code="invalid_group_name",
        )
    return name


def validate_variable_key(key: str) -> str:
    if not isinstance(key, str):
        raise ValidationError("The key must be a string.", code="invalid_key")
    key = key.strip()
    if not _variable_key.match(key):
        raise ValidationError(
            "A key starts with a letter or '_' and has only letters, digits and '_' "
            "(at most 256 characters).",
            code="invalid_key",
        )
    if key.upper().startswith(RESERVED_PREFIX):
        raise ValidationError(
            f"Keys starting with {RESERVED_PREFIX} are reserved for values MIOSA injects.",
            code="reserved_key",
        )
    return key


# Names a process needs from its own machine: a value for one of them breaks the process it is
# injected into (PATH=/nonexistent: the shell cannot find anything) or runs code in it
# (LD_PRELOAD, DYLD_INSERT_LIBRARIES). Refused for new writes; existing ones stay deletable.
PROCESS_KEYS = frozenset({"PATH", "HOME", "SHELL", "USER", "LOGNAME", "PWD", "OLDPWD", "IFS"})
PROCESS_KEY_PREFIXES = ("LD_", "DYLD_")


def is_process_key(key: str) -> bool:
    return key in PROCESS_KEYS or key.startswith(PROCESS_KEY_PREFIXES)


def validate_new_key(key: str) -> str:
    """A key a write may set: a valid key that is not one a process needs from its machine."""
    key = validate_variable_key(key)
    if is_process_key(key):
        raise ValidationError(
            f"{key} is set by the machine a process runs on; MIOSA does not inject it "
            "(it would break the process or run code in it). Use another name.",
            code="reserved_key",
        )
    return key


def validate_variable_value(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("The value must be a string.", code="invalid_value")
    if "\x00" in value:
        raise ValidationError("The value must not contain a NUL character.", code="invalid_value")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError("The value must be valid UTF-8 text.", code="invalid_value") from None
    if size > MAX_VALUE_BYTES:
        raise ValidationError(
            f"The value is {size} bytes; the limit is {MAX_VALUE_BYTES} bytes (32 KiB).",
            code="value_too_large",
        )
    return value


# Tokens (SPEC §12) -----------------------------------------------------------------------

TOKEN_DEFAULT_DAYS = 90  # personal API tokens; runtime tokens default to no expiry
TOKEN_MAX_DAYS = 365
TOKEN_NAME_MAX = 100


def validate_token_lifetime(days: object) -> int | None:
    """A token's lifetime in whole days, 1 to 365, or None for no expiry."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValidationError(
            "The expiry is a whole number of days (1 to 365), or null for no expiry.",
            code="invalid_expiry",
        )
    if not 1 <= days <= TOKEN_MAX_DAYS:
        raise ValidationError(
            f"A token expires in 1 to {TOKEN_MAX_DAYS} days (or never); not in {days}.",
            code="invalid_expiry",
        )
    return days


def plain_preview(value: str) -> str:
    """The value itself when at most 8 characters, else its first 8 followed by '…'."""
    if len(value) <= PREVIEW_CHARS:
        return value
    return value[:PREVIEW_CHARS] + "…"


# Domains ---------------------------------------------------------------------------------


def validate_hostname(raw: str) -> str:
    """Normalise a hostname: lower-case, IDNA-encoded, RFC 1123 labels, at least one dot."""
    host = raw.strip() if isinstance(raw, str) else ""
    if not host:
        raise ValidationError("Enter a hostname, like app.example.com.", code="invalid_hostname")
    if "://" in host or "/" in host or "?" in host or "#" in host:
        parts = urlsplit(host if "://" in host else f"//{host}")
        suggestion = parts.hostname or ""
        hint = f" Did you mean {suggestion}?" if suggestion else ""
        raise ValidationError(
            "Enter only the hostname, without a scheme, port or path." + hint,
            code="invalid_hostname",
        )
    if ":" in host:
        raise ValidationError("Enter only the hostname, without a port.", code="invalid_hostname")
    host = host.rstrip(".")
    labels = host.split(".")
    if len(labels) < 2:
        raise ValidationError(
            "A hostname needs at least one dot, like example.com.", code="invalid_hostname"
        )
    encoded = []
    for label in labels:
        if not label:
            raise ValidationError("A hostname cannot have empty labels.", code="invalid_hostname")
        try:
            # IDNA 2008 with UTS 46 mapping, non-transitional: straße.de stays straße.de
            # (xn--strae-oqa.de), as browsers resolve it; malformed xn-- labels are refused.
            if label.isascii():
                ascii_label = label.lower()
                if ascii_label.startswith("xn--"):
                    idna.decode(ascii_label)
            else:
                ascii_label = idna.encode(label, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            if len(label) > 63:
                ascii_label = ""
            else:
                raise ValidationError(
                    f"The label {label[:20]!r} is not a valid internationalised domain label.",
                    code="invalid_hostname",
                ) from None
        if not ascii_label or len(ascii_label) > 63:
            shown = label if len(label) <= 20 else label[:20] + "…"
            raise ValidationError(
                f"The label {shown} is too long once encoded; each label has 1-63 characters.",
                code="invalid_hostname",
            )
        if not _label.match(ascii_label):
            raise ValidationError(
                f"The label {label!r} may only have letters, digits and hyphens, and may not "
                "start or end with a hyphen.",
                code="invalid_hostname",
            )
        encoded.append(ascii_label)
    host = ".".join(encoded)
    if encoded[-1].isdigit():
        raise ValidationError(
            "Enter a hostname, not an IP address (the last label cannot be all digits).",
            code="invalid_hostname",
        )
    if len(host) > 253:
        raise ValidationError(
            f"A hostname has at most 253 characters; this one has {len(host)}.",
            code="invalid_hostname",
        )
    return host


def suggested_hostname(environment_name: str, apex: str) -> str:
    """`<name>.<apex>` with '/', '.' and '_' turned into '-' (preview/pr-42 → preview-pr-42),
    cut to a valid 63-character label."""
    if environment_name == PRODUCTION:
        return apex
    label = re.sub(r"[/._]", "-", environment_name)[:63].strip("-")
    return f"{label}.{apex}"


# Bindings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BindingKind:
    label: str
    variable_name: str  # the variable it is injected as, unless named otherwise
    schemes: tuple[str, ...]  # the URL schemes it accepts


# The one list of binding kinds: the model's choices, its check constraint, the forms, the
# services and the page's script (through the form) all take them from here.
BINDING_KINDS = {
    "postgres": BindingKind("PostgreSQL", "DATABASE_URL", ("postgres", "postgresql")),
    "redis": BindingKind("Redis", "REDIS_URL", ("redis", "rediss")),
    "bucket": BindingKind("Bucket", "BUCKET_URL", ("s3", "https")),
}


def validate_binding_kind(kind: str) -> str:
    if kind not in BINDING_KINDS:
        *others, last = BINDING_KINDS
        raise ValidationError(
            f"The kind must be {', '.join(others)} or {last}.", code="invalid_binding_kind"
        )
    return kind


# RFC 3986 userinfo: unreserved, percent-encoded, sub-delims and ':'. Anything else in a user
# name or password is read differently by different parsers.
_USERINFO = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*")
ENCODE_USERINFO = (
    "Parsers read this URL's user name and password differently: percent-encode special "
    "characters in them ('@' as %40, '/' as %2F, '?' as %3F, '#' as %23, '%' as %25, "
    "'[' as %5B, ']' as %5D)."
)


def _refuse_ambiguous_authority(url: str) -> None:
    """Refuse a URL whose credentials two parsers would read differently: Python's urlsplit
    takes the host after the last '@' of the authority, libpq after the first, so in
    postgres://u:p@ss@127.0.0.1/db one connects to 127.0.0.1 and the other reads the password
    'p' and the host 'ss@127.0.0.1'. An unencoded '/', '?' or '#' in a password ends the
    authority early for every parser, leaving an '@' after the host."""
    _, sep, rest = url.partition("://")
    if not sep:
        return  # refused for its scheme
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, host = authority.rpartition("@")
    if "@" in tail or (at and not _USERINFO.fullmatch(userinfo)):
        raise ValidationError(ENCODE_USERINFO, code="invalid_binding_url")
    if "\\" in host or "%" in host:
        # WHATWG URL parsers read '\\' as '/' in https URLs; libpq decodes '%' in a host.
        raise ValidationError(
            "The host of the URL may not contain '\\' or '%'.", code="invalid_binding_url"
        )


def validate_binding_url(kind: str, url: str) -> str:
    """Check a credential URL for its kind. Messages never include the URL (it has a password)."""
    validate_binding_kind(kind)
    url = (url or "").strip()
    schemes = BINDING_KINDS[kind].schemes
    if not url:
        raise ValidationError("Enter the connection URL.", code="invalid_binding_url")
    if any(ch.isspace() for ch in url) or "\x00" in url:
        raise ValidationError("The URL must not contain spaces.", code="invalid_binding_url")
    # Before urlsplit: a '[' in a password makes it answer "Invalid IPv6 URL".
    _refuse_ambiguous_authority(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValidationError(
            "The URL is malformed (check the port).", code="invalid_binding_url"
        ) from None
    if parts.scheme not in schemes:
        expected = " or ".join(f"{s}://" for s in schemes)
        raise ValidationError(f"A {kind} URL starts with {expected}.", code="invalid_binding_url")
    if not parts.hostname:
        raise ValidationError("The URL has no host.", code="invalid_binding_url")
    if len(url.encode()) > 4096:
        raise ValidationError("The URL is longer than 4096 bytes.", code="invalid_binding_url")
    return url


_SENSITIVE_QUERY = re.compile(r"pass|pwd|secret|token|key|sig|cred|auth", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ••••; without a password, the URL as is.

    Credentials can also ride in the query string (`?password=…`, a presigned bucket URL's
    `X-Amz-Signature=…`): the values of such parameters are masked too.
    """
    parts = urlsplit(url)
    if "@" in parts.path or "@" in parts.query or "@" in parts.fragment:
        # Cannot tell where the credential ends (validation refuses such URLs): hide it all.
        return f"{parts.scheme}://{SECRET_PREVIEW}"
    if parts.password is not None:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}:{SECRET_PREVIEW}@{hostport}")
    elif "@" in parts.netloc and parts.scheme in ("https", "s3"):
        # For HTTP(S) and S3 a lone user name is usually a token (https://ghp_…@host).
        hostport = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{SECRET_PREVIEW}@{hostport}")
    if parts.query:
        pairs = []
        for pair in parts.query.split("&"):
            name, sep, value = pair.partition("=")
            if sep and _SENSITIVE_QUERY.search(unquote_plus(name)):
                value = SECRET_PREVIEW
            pairs.append(f"{name}{sep}{value}")
        parts = parts._replace(query="&".join(pairs))
    if parts.fragment:
        parts = parts._replace(fragment=SECRET_PREVIEW)
    return urlunsplit(parts)
