"""--expires-in-days / --no-expiry, shared by create_api_token and create_runtime_token."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from environments import rules


def add_lifetime_arguments(parser, *, default: int | None) -> None:
    group = parser.add_mutually_exclusive_group()
    shown = f"default {default}" if default else "default: no expiry"
    group.add_argument(
        "--expires-in-days",
        type=int,
        default=None,
        metavar="N",
        help=f"Expire the token in N days, 1 to {rules.TOKEN_MAX_DAYS} ({shown}).",
    )
    if default is not None:
        group.add_argument("--no-expiry", action="store_true", help="The token never expires.")


def lifetime(options: dict, *, default: int | None) -> int | None:
    if options.get("no_expiry"):
        return None
    days = options["expires_in_days"]
    if days is None:
        return default
    try:
        return rules.validate_token_lifetime(days)
    except ValidationError as exc:
        raise CommandError(exc.messages[0]) from None
