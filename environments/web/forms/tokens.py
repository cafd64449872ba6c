"""Runtime tokens and personal API tokens: a name and a lifetime."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from ... import rules
from .fields import PageForm, text_input

NO_EXPIRY = "never"
TOKEN_LIFETIMES = [
    ("30", "30 days"),
    ("60", "60 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    (NO_EXPIRY, "No expiry"),
]


class _TokenLifetimeForm(PageForm):
    """A token's expiry: a choice, or a custom number of days (which wins when given).
    `cleaned_data["expires_in_days"]` is then days (1 to 365) or None for no expiry."""

    default_lifetime = str(rules.TOKEN_DEFAULT_DAYS)
    prefix_id = "token"

    # Left out (a form posted by a script), the default lifetime applies.
    expires = forms.ChoiceField(choices=TOKEN_LIFETIMES, label="Expires in", required=False)
    custom_days = forms.IntegerField(
        required=False,
        label="Or days",
        min_value=1,
        max_value=rules.TOKEN_MAX_DAYS,
        help_text=f"A custom number of days, 1 to {rules.TOKEN_MAX_DAYS}.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "placeholder": "45"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["expires"].initial = self.default_lifetime
        self.fields["expires"].widget.attrs["id"] = f"{self.prefix_id}-expires"
        self.fields["custom_days"].widget.attrs["id"] = f"{self.prefix_id}-days"

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if cleaned.get("custom_days") is not None:
            days = cleaned["custom_days"]
        else:
            choice = cleaned.get("expires") or self.default_lifetime
            days = None if choice == NO_EXPIRY else int(choice)
        try:
            cleaned["expires_in_days"] = rules.validate_token_lifetime(days)
        except ValidationError as exc:
            self.add_error("custom_days", exc.messages[0])
        return cleaned


class RuntimeTokenForm(_TokenLifetimeForm):
    default_lifetime = NO_EXPIRY  # a fleet's boot must not stop on a date nobody remembers
    prefix_id = "runtime-token"

    name = forms.CharField(
        max_length=rules.TOKEN_NAME_MAX,
        required=False,
        strip=True,
        label="Token name",
        widget=text_input(id="token-name"),
    )
    field_order = ["name", "expires", "custom_days"]

    def __init__(self, *args, environment_name: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if environment_name:
            self.fields["name"].widget.attrs["placeholder"] = f"{environment_name} runtime"


class ApiTokenForm(_TokenLifetimeForm):
    prefix_id = "api-token"

    name = forms.CharField(
        max_length=rules.TOKEN_NAME_MAX,
        required=False,
        strip=True,
        label="Token name",
        widget=text_input(id="api-token-name", placeholder="CI deploys"),
    )
    field_order = ["name", "expires", "custom_days"]
