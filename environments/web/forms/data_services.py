"""Data services and data servers (SPEC §13): add a Postgres, Redis or bucket to an environment;
register a server (superusers)."""

from __future__ import annotations

from django import forms

from ... import rules
from ...models import DataServer
from .fields import PageForm, by_rule, text_input

KIND_LABELS = {"postgres": "Postgres", "redis": "Redis", "bucket": "Bucket"}

# What destroying a data service removes on its server, by kind (said before it is done).
DESTROYS = {
    "postgres": "its database with every table and row, and its login roles",
    "redis": "its ACL user and every key under its pattern",
    "bucket": "the bucket with every object in it, and its access key",
}


class DataServiceForm(PageForm):
    """Kind, and optionally the server (when several are available), the variable and, for
    Postgres, the environment whose data is copied (production is never offered)."""

    kind = forms.ChoiceField(widget=forms.Select(attrs={"id": "data-kind"}))
    server = forms.ChoiceField(
        required=False, label="Server", widget=forms.Select(attrs={"id": "data-server"})
    )
    variable = forms.CharField(
        max_length=256,
        required=False,
        strip=True,
        label="Variable name",
        widget=text_input(id="data-variable", placeholder="DATABASE_URL"),
    )
    copy_from = forms.ChoiceField(
        required=False,
        label="Copy data from",
        help_text="Postgres only: schema and rows. Production is never copied.",
        widget=forms.Select(attrs={"id": "data-copy-from"}),
    )

    def __init__(self, *args, servers: dict[str, list[str]], sources: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, KIND_LABELS[k]) for k in servers]
        names = sorted({n for kind_names in servers.values() for n in kind_names})
        self.fields["server"].choices = [("", "Any available")] + [(n, n) for n in names]
        self.several_servers = any(len(n) > 1 for n in servers.values())
        self.fields["copy_from"].choices = [("", "Nothing (empty)")] + [(n, n) for n in sources]

    def clean_variable(self) -> str:
        variable = self.cleaned_data["variable"]
        return by_rule(rules.validate_variable_key, variable) if variable else ""


class DataServerForm(PageForm):
    kind = forms.ChoiceField(
        choices=DataServer.Kind.choices, widget=forms.Select(attrs={"id": "server-kind"})
    )
    name = forms.CharField(max_length=63, strip=True, widget=text_input(id="server-name"))
    # The admin URL is typed like a password and never rendered back, even on an error.
    admin_url = forms.CharField(
        max_length=4096,
        strip=True,
        label="Admin URL",
        help_text="Stored encrypted and never shown again.",
        widget=forms.PasswordInput(
            attrs={"id": "server-url", "autocomplete": "off", "placeholder": "postgres://…"},
            render_value=False,
        ),
    )
    scope = forms.ChoiceField(
        choices=[("all", "Every deployment"), ("listed", "Only the deployments listed")],
        initial="all",
        label="Available to",
        widget=forms.RadioSelect,
    )
    deployments = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Deployments"
    )

    def __init__(self, *args, deployment_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["deployments"].choices = [(n, n) for n in deployment_names]

    def clean_name(self) -> str:
        return by_rule(rules.validate_deployment_name, self.cleaned_data["name"])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("scope") == "listed" and not cleaned.get("deployments"):
            self.add_error("deployments", "Pick the deployments that may use this server.")
        return cleaned
