"""An environment: create it, its domains, where it promotes to, how its config changes go live,
apply them, roll it back."""

from __future__ import annotations

from django import forms

from ... import rules
from ...models import Environment
from ...services.releases import ROLLBACK_CONFIG
from .fields import PageForm, by_rule, text_input


class DomainForm(PageForm):
    hostname = forms.CharField(
        max_length=300,
        strip=True,
        widget=text_input(id="domain-host", placeholder="app.example.com"),
    )

    def clean_hostname(self) -> str:
        return by_rule(rules.validate_hostname, self.cleaned_data["hostname"])


class EnvironmentForm(PageForm):
    name = forms.CharField(max_length=127, strip=True)
    copy_from = forms.ChoiceField(required=False, label="Start with")
    promotes_to = forms.ChoiceField(required=False, label="Promotes to")
    # What a copy gets of the source's data services (SPEC §13); blank: the service's default.
    data = forms.ChoiceField(
        required=False,
        label="Data",
        choices=[
            ("", "Default: empty for preview/*, none otherwise"),
            ("copy", "Copy: its own services, Postgres with a copy of the rows"),
            ("empty", "Empty: its own services of the same kinds, empty"),
            ("none", "None: no data services"),
        ],
        help_text="With a copy source only. Production's data is never copied.",
    )
    # A preview/* environment may expire (deleted by the expiry job, as review apps are).
    expires_in_days = forms.TypedChoiceField(
        required=False,
        label="Expires",
        coerce=int,
        empty_value=None,
        choices=[("", "Never")]
        + [(str(d), f"In {d} day{'s' if d > 1 else ''}") for d in (1, 3, 7, 14, 30)],
        help_text="For preview/* environments only: deleted with its variables and tokens "
        "when it expires.",
    )

    def __init__(self, *args, environment_names: list[str], copyable: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        copy_from = self.fields["copy_from"]
        copy_from.choices = [("", "No variables (empty)")] + [
            (n, f"A copy of {n}'s variables") for n in environment_names
        ]
        # Only the environments the user may copy are offered; the view explains why another
        # one is refused, rather than a bare "not one of the available choices".
        copy_from.widget.choices = [c for c in copy_from.choices if c[0] in ("", *copyable)]
        self.fields["promotes_to"].choices = [("", "Default (previews promote to staging)")] + [
            (n, n) for n in environment_names
        ]

    def clean_name(self) -> str:
        return by_rule(rules.validate_environment_name, self.cleaned_data["name"])

    def clean(self):
        cleaned = super().clean()
        name = cleaned.get("name") or ""
        if cleaned.get("expires_in_days") and not name.startswith(rules.PREVIEW_PREFIX):
            self.add_error(
                "expires_in_days",
                f"Only {rules.PREVIEW_PREFIX}* environments expire; name it like "
                f"{rules.PREVIEW_PREFIX}pr-43, or pick Never.",
            )
        return cleaned


class PromotionTargetForm(PageForm):
    promotes_to = forms.ChoiceField(
        required=False, label="Promotes to", widget=forms.Select(attrs={"id": "promotes-to"})
    )

    def __init__(self, *args, environment_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["promotes_to"].choices = [("", "Nothing (end of the pipeline)")] + [
            (n, n) for n in environment_names
        ]


# What each of the services' rollback modes is called on the page (KeyError: a mode without one).
ROLLBACK_LABELS = {"restore": "Version and its configuration", "keep": "Version only"}


class RollbackForm(PageForm):
    release = forms.IntegerField(min_value=1, max_value=rules.MAX_NUMBER)
    config = forms.ChoiceField(
        choices=[(mode, ROLLBACK_LABELS[mode]) for mode in ROLLBACK_CONFIG],
        initial=ROLLBACK_CONFIG[0],
        required=False,
    )

    def clean_config(self) -> str:
        return self.cleaned_data["config"] or ROLLBACK_CONFIG[0]


class ApplyForm(PageForm):
    """The revision the confirmation showed: a change made meanwhile is refused (stale)."""

    expected_revision = forms.IntegerField(min_value=1, max_value=rules.MAX_NUMBER)


# The end of the sentence "Config changes go live …" for each of the model's modes.
GO_LIVE = {
    Environment.ConfigChanges.IMMEDIATE: "immediately",
    Environment.ConfigChanges.STAGED: "when applied (staged)",
}


class ConfigChangesForm(PageForm):
    config_changes = forms.ChoiceField(
        label="Config changes go live",
        choices=[(mode.value, GO_LIVE[mode]) for mode in Environment.ConfigChanges],
        widget=forms.Select(attrs={"id": "config-changes"}),
    )
