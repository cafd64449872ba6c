"""A webhook endpoint: its URL, the events it wants, and optionally which environments'."""

from __future__ import annotations

from django import forms

from ... import rules
from ...models.webhooks import EVENTS, WebhookEndpoint
from .fields import PageForm, by_rule


class WebhookForm(PageForm):
    url = forms.CharField(
        label="URL",
        max_length=WebhookEndpoint.MAX_URL,
        help_text="An https:// address on the public internet; we POST each event to it, signed.",
        widget=forms.TextInput(
            attrs={"placeholder": "https://hooks.example.com/miosa", "inputmode": "url"}
        ),
    )
    events = forms.MultipleChoiceField(
        label="Events",
        choices=[(e, e) for e in EVENTS],
        initial=["release.created"],
        widget=forms.CheckboxSelectMultiple,
    )
    environments = forms.CharField(
        label="Only these environments",
        required=False,
        help_text="Names separated by commas; empty: every environment.",
        widget=forms.TextInput(attrs={"placeholder": "production, staging"}),
    )

    def clean_environments(self) -> list[str]:
        names = [n.strip() for n in self.cleaned_data["environments"].split(",") if n.strip()]
        return [by_rule(rules.validate_environment_name, name) for name in names]
