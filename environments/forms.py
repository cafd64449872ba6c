"""Forms for the web pages. They only validate and normalise; the services assign and save.

Validation rules (keys, hostnames, URLs, names) live in `rules`; the forms call them so that a
page shows the same message as the API, next to the field it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.core.exceptions import ValidationError

from . import rules
from .errors import ServiceError
from .models import Binding, Role

NEW_ENVIRONMENT = "__new__"


def _rule(validator: Callable[[str], str], value: str) -> str:
    try:
        return validator(value)
    except ValidationError as exc:
        raise ValidationError(exc.messages[0], code=exc.code) from None


def _typed_text(value: str) -> str:
    """Browsers submit a textarea's line breaks as CRLF; a value typed with line breaks (a PEM
    key, say) means LF, as the API and a .env file would have it."""
    return value.replace("\r\n", "\n")


def add_service_error(form: forms.Form, exc: ServiceError) -> None:
    """Show a service's refusal next to the field it names, else above the form."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


class VariableForm(forms.Form):
    key = forms.CharField(max_length=256, strip=True)
    value = forms.CharField(strip=False, required=False, widget=forms.Textarea)
    is_secret = forms.BooleanField(required=False, label="Secret")

    def clean_key(self) -> str:
        return _rule(rules.validate_variable_key, self.cleaned_data["key"])

    def clean_value(self) -> str:
        return _rule(rules.validate_variable_value, _typed_text(self.cleaned_data["value"]))


class VariableEditForm(forms.Form):
    """Editing shows an empty "new value" field: left blank, the stored value stays."""

    value = forms.CharField(strip=False, required=False, widget=forms.Textarea)
    make_secret = forms.BooleanField(required=False, label="Make secret")

    def clean_value(self) -> str:
        value = _typed_text(self.cleaned_data["value"])
        if value == "":
            return value
        return _rule(rules.validate_variable_value, value)


class BindingForm(forms.Form):
    kind = forms.ChoiceField(choices=Binding.Kind.choices)
    name = forms.CharField(max_length=100, required=False, strip=True)
    url = forms.CharField(max_length=4096, strip=True, label="Connection URL")
    variable_name = forms.CharField(max_length=256, required=False, strip=True)

    def kind_options(self) -> list[tuple[str, str, str]]:
        """(kind, label, default variable name) for the kind select: the page's script takes
        the default names from here (rules.BINDING_KINDS), it holds no copy of its own."""
        return [
            (value, label, rules.BINDING_KINDS[value][0])
            for value, label in self.fields["kind"].choices
        ]

    def default_variable_name(self) -> str:
        """The variable name the chosen kind (else the first) is bound as by default."""
        options = self.kind_options()
        chosen = self["kind"].value()
        return next((v for k, _, v in options if k == chosen), options[0][2])

    def clean_variable_name(self) -> str:
        name = self.cleaned_data["variable_name"]
        return _rule(rules.validate_variable_key, name) if name else ""

    def clean(self):
        cleaned = super().clean()
        kind, url = cleaned.get("kind"), cleaned.get("url")
        if kind and url:
            try:
                cleaned["url"] = rules.validate_binding_url(kind, url)
            except ValidationError as exc:
                self.add_error("url", exc.messages[0])
        return cleaned


class BindingEditForm(forms.Form):
    """Replace a credential: a blank URL keeps the stored one."""

    name = forms.CharField(max_length=100, required=False, strip=True)
    url = forms.CharField(max_length=4096, required=False, strip=True, label="New connection URL")
    variable_name = forms.CharField(max_length=256, strip=True)

    def __init__(self, *args, kind: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind

    def clean_variable_name(self) -> str:
        return _rule(rules.validate_variable_key, self.cleaned_data["variable_name"])

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url:
            return ""
        return _rule(lambda u: rules.validate_binding_url(self.kind, u), url)


class DomainForm(forms.Form):
    hostname = forms.CharField(max_length=300, strip=True)

    def clean_hostname(self) -> str:
        return _rule(rules.validate_hostname, self.cleaned_data["hostname"])


class RuntimeTokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, strip=True)


class EnvironmentForm(forms.Form):
    name = forms.CharField(max_length=127, strip=True)
    copy_from = forms.ChoiceField(required=False, label="Start with")
    promotes_to = forms.ChoiceField(required=False, label="Promotes to")

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
        return _rule(rules.validate_environment_name, self.cleaned_data["name"])


class PromotionTargetForm(forms.Form):
    promotes_to = forms.ChoiceField(required=False, label="Promotes to")

    def __init__(self, *args, environment_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["promotes_to"].choices = [("", "Nothing (end of the pipeline)")] + [
            (n, n) for n in environment_names
        ]


class DeploymentForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)

    def clean_name(self) -> str:
        return _rule(rules.validate_deployment_name, self.cleaned_data["name"])


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, strip=True)


class ConfirmNameForm(forms.Form):
    """Deleting something big asks for its name, typed."""

    confirm_name = forms.CharField(max_length=127, strip=True, label="Type the name to confirm")

    def __init__(self, *args, expected: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"]
        if typed != self.expected:
            raise ValidationError(f"Type {self.expected} exactly to confirm.")
        return typed


class VersionForm(forms.Form):
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


class PromoteForm(forms.Form):
    """The versions the confirmation showed: the source's, and the target's (blank: none)."""

    version = forms.IntegerField(min_value=1)
    target_version = forms.IntegerField(min_value=1, required=False)


class RollbackForm(forms.Form):
    version = forms.IntegerField(min_value=1)


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150, strip=True)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApexForm(forms.Form):
    apex_domain = forms.CharField(max_length=300, required=False, strip=True, label="Apex domain")

    def clean_apex_domain(self) -> str:
        apex = self.cleaned_data["apex_domain"]
        return _rule(rules.validate_hostname, apex) if apex else ""


class AuditFilterForm(forms.Form):
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


class CompareForm(forms.Form):
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
