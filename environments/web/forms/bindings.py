"""Data service bindings: bind a credential, replace it."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from ... import rules
from ...models import Binding
from .fields import PageForm, by_rule, text_input


class KindSelect(forms.Select):
    """Each kind's option carries its default variable name (from rules.BINDING_KINDS), which
    the page's script shows as the variable name's placeholder: the script holds no copy."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in rules.BINDING_KINDS:
            option["attrs"]["data-variable-name"] = rules.BINDING_KINDS[value].variable_name
        return option


def _credential(**attrs: str) -> forms.PasswordInput:
    """A connection URL holds a password: typed like one, never rendered back."""
    return forms.PasswordInput(attrs={"autocomplete": "off", **attrs})


class BindingForm(PageForm):
    kind = forms.ChoiceField(
        choices=Binding.Kind.choices,
        widget=KindSelect(attrs={"id": "bind-kind", "data-binding-kind": "bind-var"}),
    )
    name = forms.CharField(
        max_length=100,
        required=False,
        strip=True,
        label="Service name",
        widget=text_input(id="bind-name"),
    )
    url = forms.CharField(
        max_length=4096,
        strip=True,
        label="Connection URL",
        help_text="Percent-encode special characters in the password ('@' as %40).",
        widget=_credential(id="bind-url", placeholder="postgres://user:password@host:5432/db"),
    )
    variable_name = forms.CharField(
        max_length=256,
        required=False,
        strip=True,
        label="Variable name",
        widget=text_input(id="bind-var"),
    )

    def __init__(self, *args, deployment_name: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["variable_name"].widget.attrs["placeholder"] = self.default_variable_name()
        if deployment_name:
            self.fields["name"].widget.attrs["placeholder"] = f"{deployment_name}-db"

    def kind_options(self) -> list[tuple[str, str, str]]:
        """(kind, label, default variable name) for the kind select: the page's script takes
        the default names from here (rules.BINDING_KINDS), it holds no copy of its own."""
        return [
            (value, label, rules.BINDING_KINDS[value].variable_name)
            for value, label in self.fields["kind"].choices
        ]

    def default_variable_name(self) -> str:
        """The variable name the chosen kind (else the first) is bound as by default."""
        options = self.kind_options()
        chosen = self["kind"].value()
        return next((v for k, _, v in options if k == chosen), options[0][2])

    def clean_variable_name(self) -> str:
        name = self.cleaned_data["variable_name"]
        return by_rule(rules.validate_variable_key, name) if name else ""

    def clean(self):
        cleaned = super().clean()
        kind, url = cleaned.get("kind"), cleaned.get("url")
        if kind and url:
            try:
                cleaned["url"] = rules.validate_binding_url(kind, url)
            except ValidationError as exc:
                self.add_error("url", exc.messages[0])
        return cleaned


class BindingEditForm(PageForm):
    """Replace a credential: a blank URL keeps the stored one."""

    name = forms.CharField(
        max_length=100,
        required=False,
        strip=True,
        label="Service name",
        widget=text_input(id="bind-edit-name", autofocus=True),
    )
    url = forms.CharField(
        max_length=4096,
        required=False,
        strip=True,
        label="New connection URL",
        widget=_credential(
            id="bind-edit-url", placeholder="Leave blank to keep the stored credential"
        ),
    )
    variable_name = forms.CharField(
        max_length=256, strip=True, label="Variable name", widget=text_input(id="bind-edit-var")
    )

    def __init__(self, *args, kind: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind

    def clean_variable_name(self) -> str:
        return by_rule(rules.validate_variable_key, self.cleaned_data["variable_name"])

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url:
            return ""
        return by_rule(lambda u: rules.validate_binding_url(self.kind, u), url)
