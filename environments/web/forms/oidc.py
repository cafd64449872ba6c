"""A CI trust policy (SPEC §16), as a page posts it: the claims as `name=value` lines and the
pinned keys as a JWKS document in JSON; the service checks the rest."""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError

from ...models import GITHUB_ISSUER, MAX_TTL_SECONDS, OidcPolicy
from .fields import PageForm, text_input, typed_text


class OidcPolicyForm(PageForm):
    issuer = forms.CharField(
        max_length=500,
        initial=GITHUB_ISSUER,
        widget=text_input(),
        help_text="The iss of the ID tokens, exactly (GitHub Actions' is shown).",
    )
    audience = forms.CharField(
        max_length=500,
        widget=text_input(placeholder="miosa"),
        help_text="The aud they must hold: what MIOSA_OIDC_AUDIENCE says in the workflow.",
    )
    subject = forms.CharField(
        max_length=500,
        widget=text_input(placeholder="repo:acme/shop:environment:production"),
        help_text="The sub, exactly, or a glob where * stands for any run of characters.",
    )
    claims = forms.CharField(
        required=False,
        label="Other claims",
        widget=forms.Textarea(
            attrs={"rows": 2, "spellcheck": "false", "placeholder": "repository_id=123456789"}
        ),
        help_text="One name=value a line, each required exactly. Prefer repository_id and "
        "repository_owner_id to names, which someone else can register again.",
    )
    environments = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="What the minted token may act on.",
    )
    role = forms.ChoiceField(choices=OidcPolicy.TokenRole.choices, initial="developer")
    ttl_seconds = forms.IntegerField(
        label="Lifetime (seconds)",
        min_value=60,
        max_value=MAX_TTL_SECONDS,
        initial=900,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text=f"60 to {MAX_TTL_SECONDS}; the token also ends with the ID token.",
    )
    jwks_url = forms.CharField(
        required=False,
        label="JWKS URL",
        max_length=500,
        initial=f"{GITHUB_ISSUER}/.well-known/jwks",
        widget=text_input(),
        help_text="Where the issuer publishes its public keys (https://).",
    )
    jwks = forms.CharField(
        required=False,
        label="Pinned keys (JWKS)",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text='Optional: {"keys": [...]} of RSA or EC public keys, checked before the URL.',
    )

    def __init__(self, *args, environment_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["environments"].choices = [(name, name) for name in environment_names]

    def clean_claims(self) -> dict[str, str]:
        claims = {}
        for number, line in enumerate(typed_text(self.cleaned_data["claims"]).split("\n"), 1):
            if not line.strip():
                continue
            name, equals, value = line.partition("=")
            if not equals or not name.strip() or not value.strip():
                raise ValidationError(f"Line {number} is not name=value.")
            claims[name.strip()] = value.strip()
        return claims

    def clean_jwks(self) -> dict | None:
        text = self.cleaned_data["jwks"].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise ValidationError('This is not JSON; paste the {"keys": [...]} document.') from None
