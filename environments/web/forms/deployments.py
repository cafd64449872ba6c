"""A deployment: create or delete it, its versions and promotions, members, apex domain, audit
filter, comparison."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from ... import rules
from ...models import Deployment, Role
from .fields import PageForm, by_rule, text_input

NEW_ENVIRONMENT = "__new__"


class DeploymentForm(PageForm):
    name = forms.CharField(
        max_length=200,
        strip=True,
        help_text="Lower-case letters, digits and hyphens. It starts with production and "
        "staging; you become its owner.",
        widget=text_input(id="deployment-name", placeholder="shop"),
    )

    def clean_name(self) -> str:
        return by_rule(rules.validate_deployment_name, self.cleaned_data["name"])


class ConfirmNameForm(PageForm):
    """Deleting something big asks for its name, typed."""

    confirm_name = forms.CharField(
        max_length=127, strip=True, label="Type the name to confirm", widget=text_input()
    )

    def __init__(self, *args, expected: str, focus: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected
        self.fields["confirm_name"].label = f"Type {expected} to confirm"
        if focus:  # the page asks nothing else
            self.fields["confirm_name"].widget.attrs["autofocus"] = True

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"]
        if typed != self.expected:
            raise ValidationError(f"Type {self.expected} exactly to confirm.")
        return typed


class VersionForm(PageForm):
    label = forms.CharField(max_length=200, required=False, strip=True)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    deploy_to = forms.ChoiceField(required=False, label="Deploy it to")
    new_environment = forms.CharField(
        max_length=127, required=False, strip=True, label="New environment name"
    )

    def __init__(self, *args, deployable: list[str], can_create: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "Nowhere yet (only register it)")] + [(n, n) for n in deployable]
        if can_create:
            choices.append((NEW_ENVIRONMENT, "A new environment…"))
        self.fields["deploy_to"].choices = choices

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("deploy_to") == NEW_ENVIRONMENT:
            name = cleaned.get("new_environment", "")
            if not name:
                self.add_error("new_environment", "Name the new environment, like preview/pr-43.")
            else:
                try:
                    cleaned["new_environment"] = rules.validate_environment_name(name)
                except ValidationError as exc:
                    self.add_error("new_environment", exc.messages[0])
        return cleaned


class PromoteForm(PageForm):
    """The versions the confirmation showed: the source's, and the target's (blank: none)."""

    version = forms.IntegerField(min_value=1, max_value=rules.MAX_NUMBER)
    target_version = forms.IntegerField(min_value=1, max_value=rules.MAX_NUMBER, required=False)


class MemberForm(PageForm):
    username = forms.CharField(max_length=150, strip=True)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(PageForm):
    role = forms.ChoiceField(choices=Role.choices)


class ApexForm(PageForm):
    apex_domain = forms.CharField(max_length=300, required=False, strip=True, label="Apex domain")

    def clean_apex_domain(self) -> str:
        apex = self.cleaned_data["apex_domain"]
        return by_rule(rules.validate_hostname, apex) if apex else ""


class SecretAgeForm(PageForm):
    """Past how many days a secret's value is flagged overdue (SPEC §14); blank: never."""

    max_secret_age_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=Deployment.MAX_SECRET_AGE_DAYS,
        label="Maximum secret age (days)",
        help_text="A secret whose value is older than this is flagged overdue on the "
        "environment pages and in the API. Leave empty to flag none.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "id": "max-secret-age"}),
    )


class AuditFilterForm(PageForm):
    action = forms.ChoiceField(required=False)
    environment = forms.ChoiceField(required=False)
    actor = forms.CharField(max_length=200, required=False, strip=True)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, actions: list[str], environment_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action")] + [(a, a) for a in actions]
        self.fields["environment"].choices = [("", "Any environment")] + [
            (n, n) for n in environment_names
        ]


class CompareForm(PageForm):
    left = forms.ChoiceField()
    right = forms.ChoiceField()

    def __init__(self, *args, environment_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [(n, n) for n in environment_names]
        self.fields["left"].choices = choices
        self.fields["right"].choices = choices

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("left") and cleaned.get("left") == cleaned.get("right"):
            raise ValidationError("Pick two different environments.")
        return cleaned
