"""Forms for the web pages. They only validate and normalise; the services assign and save.

Validation rules (keys, hostnames, URLs, names) live in `rules`; the forms call them so that a
page shows the same message as the API, next to the field it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField

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


class PageField(BoundField):
    """A field as templates/environments/_field.html renders it. Its help and error paragraphs
    have ids its widget's aria-describedby names: `<id>-help`, `<id>-error` beside a widget the
    page gives an id (new-key), Django's `<auto id>_help`, `_error` otherwise. The first field
    with an error takes the focus."""

    def _suffixed(self, suffix: str) -> str:
        named = self.field.widget.attrs.get("id")
        return f"{named}-{suffix}" if named else f"{self.auto_id}_{suffix}"

    @property
    def help_id(self) -> str:
        return self._suffixed("help")

    @property
    def error_id(self) -> str:
        return self._suffixed("error")

    @property
    def aria_describedby(self) -> str:
        ids = [self.help_id] if self.help_text else []
        return " ".join(ids + ([self.error_id] if self.errors else []))

    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        if self.errors and next(iter(self.form.errors), None) == self.name:
            attrs["autofocus"] = True
        return attrs


class PageForm(forms.Form):
    bound_field_class = PageField


def _text(**attrs: str | bool) -> forms.TextInput:
    """A one-line text input for names, keys and hostnames: no autocomplete or spellcheck."""
    return forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", **attrs})


class ValueTextarea(forms.Textarea):
    """A variable's value. A refused plain value is given back; a secret one never is
    (`render_value` off, as PasswordInput does)."""

    render_value = True

    def __init__(self, attrs: dict | None = None) -> None:
        base = {"rows": 1, "autocomplete": "off", "spellcheck": "false"}
        super().__init__(attrs=base | (attrs or {}))

    def get_context(self, name, value, attrs):
        return super().get_context(name, value if self.render_value else None, attrs)


class _ValueForm(PageForm):
    def withhold_value(self) -> None:
        """Never render the typed value back: it is, or is becoming, a secret."""
        self.fields["value"].widget.render_value = False


class VariableForm(_ValueForm):
    key = forms.CharField(
        max_length=256, strip=True, widget=_text(id="new-key", placeholder="API_URL")
    )
    value = forms.CharField(
        strip=False, required=False, widget=ValueTextarea(attrs={"id": "new-value"})
    )
    is_secret = forms.BooleanField(required=False, label="Secret")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound and self["is_secret"].value():
            self.withhold_value()

    def clean_key(self) -> str:
        return _rule(rules.validate_variable_key, self.cleaned_data["key"])

    def clean_value(self) -> str:
        return _rule(rules.validate_variable_value, _typed_text(self.cleaned_data["value"]))


class VariableEditForm(_ValueForm):
    """Editing shows an empty "new value" field: left blank, the stored value stays."""

    value = forms.CharField(
        strip=False,
        required=False,
        label="New value",
        widget=ValueTextarea(
            attrs={
                "id": "edit-value",
                "autofocus": True,
                "placeholder": "Leave blank to keep the stored value",
            }
        ),
    )
    make_secret = forms.BooleanField(required=False, label="Make secret")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound and self["make_secret"].value():
            self.withhold_value()

    def clean_value(self) -> str:
        value = _typed_text(self.cleaned_data["value"])
        if value == "":
            return value
        return _rule(rules.validate_variable_value, value)


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
        widget=_text(id="bind-name"),
    )
    url = forms.CharField(
        max_length=4096,
        strip=True,
        label="Connection URL",
        widget=_credential(id="bind-url", placeholder="postgres://user:password@host:5432/db"),
    )
    variable_name = forms.CharField(
        max_length=256,
        required=False,
        strip=True,
        label="Variable name",
        widget=_text(id="bind-var"),
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


class BindingEditForm(PageForm):
    """Replace a credential: a blank URL keeps the stored one."""

    name = forms.CharField(
        max_length=100,
        required=False,
        strip=True,
        label="Service name",
        widget=_text(id="bind-edit-name", autofocus=True),
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
        max_length=256, strip=True, label="Variable name", widget=_text(id="bind-edit-var")
    )

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


class DomainForm(PageForm):
    hostname = forms.CharField(
        max_length=300, strip=True, widget=_text(id="domain-host", placeholder="app.example.com")
    )

    def clean_hostname(self) -> str:
        return _rule(rules.validate_hostname, self.cleaned_data["hostname"])


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
        max_length=100,
        required=False,
        strip=True,
        label="Token name",
        widget=_text(id="token-name"),
    )
    field_order = ["name", "expires", "custom_days"]

    def __init__(self, *args, environment_name: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if environment_name:
            self.fields["name"].widget.attrs["placeholder"] = f"{environment_name} runtime"


class EnvironmentForm(PageForm):
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


class PromotionTargetForm(PageForm):
    promotes_to = forms.ChoiceField(
        required=False, label="Promotes to", widget=forms.Select(attrs={"id": "promotes-to"})
    )

    def __init__(self, *args, environment_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["promotes_to"].choices = [("", "Nothing (end of the pipeline)")] + [
            (n, n) for n in environment_names
        ]


class DeploymentForm(PageForm):
    name = forms.CharField(
        max_length=200,
        strip=True,
        help_text="Lower-case letters, digits and hyphens. It starts with production and "
        "staging; you become its owner.",
        widget=_text(id="deployment-name", placeholder="shop"),
    )

    def clean_name(self) -> str:
        return _rule(rules.validate_deployment_name, self.cleaned_data["name"])


class ApiTokenForm(_TokenLifetimeForm):
    prefix_id = "api-token"

    name = forms.CharField(
        max_length=100,
        required=False,
        strip=True,
        label="Token name",
        widget=_text(id="api-token-name", placeholder="CI deploys"),
    )
    field_order = ["name", "expires", "custom_days"]


class ConfirmNameForm(PageForm):
    """Deleting something big asks for its name, typed."""

    confirm_name = forms.CharField(
        max_length=127, strip=True, label="Type the name to confirm", widget=_text()
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

    version = forms.IntegerField(min_value=1)
    target_version = forms.IntegerField(min_value=1, required=False)


class RollbackForm(PageForm):
    release = forms.IntegerField(min_value=1, max_value=rules.MAX_NUMBER)
    config = forms.ChoiceField(
        choices=[("restore", "Version and its configuration"), ("keep", "Version only")],
        initial="restore",
        required=False,
    )

    def clean_config(self) -> str:
        return self.cleaned_data["config"] or "restore"


class MemberForm(PageForm):
    username = forms.CharField(max_length=150, strip=True)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(PageForm):
    role = forms.ChoiceField(choices=Role.choices)


class ApexForm(PageForm):
    apex_domain = forms.CharField(max_length=300, required=False, strip=True, label="Apex domain")

    def clean_apex_domain(self) -> str:
        apex = self.cleaned_data["apex_domain"]
        return _rule(rules.validate_hostname, apex) if apex else ""


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


# Pending changes and how config changes go live (SPEC §9) --------------------------------


class ApplyForm(PageForm):
    """The revision the confirmation showed: a change made meanwhile is refused (stale)."""

    expected_revision = forms.IntegerField(min_value=1, max_value=rules.MAX_NUMBER)


class ConfigChangesForm(PageForm):
    config_changes = forms.ChoiceField(
        label="Config changes go live",
        choices=[("immediate", "immediately"), ("staged", "when applied (staged)")],
        widget=forms.Select(attrs={"id": "config-changes"}),
    )


# --- G: "Import .env" on the environment page ----------------------------------------------


class ImportForm(PageForm):
    """A pasted or uploaded .env file and the keys to store as secrets. The file is read (and
    refused, naming the line) by `environments.imports`; this only picks the text."""

    text = forms.CharField(
        label=".env file",
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off", "id": "import-text"}
        ),
    )
    file = forms.FileField(label="Or upload a file", required=False)
    secret_keys = forms.CharField(
        label="Secret keys",
        required=False,
        help_text="Comma-separated. These are stored as secrets; existing secrets stay secrets.",
        widget=_text(id="import-secret-keys", placeholder="STRIPE_KEY, SESSION_SECRET"),
    )

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("file")
        text = data.get("text") or ""
        if upload and text:
            raise ValidationError("Paste the file or upload it, not both.")
        if upload:
            if upload.size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                raise ValidationError(
                    f"The file is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
                )
            try:
                text = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationError("The file is not UTF-8 text.") from None
        else:
            # Browsers send a textarea's line breaks as CRLF; the pasted file had LF.
            text = text.replace("\r\n", "\n")
        if not text.strip():
            raise ValidationError("Paste a .env file or choose one to upload.")
        data["text"] = text
        return data


# Key history and required keys (issue 9) ---------------------------------------------------


class RestoreForm(PageForm):
    """The revision whose value a key goes back to."""

    revision = forms.IntegerField(min_value=1, max_value=rules.MAX_NUMBER)


class RequiredKeysForm(PageForm):
    """The keys every release must define: one a line, or separated by commas (or spaces:
    no key holds one)."""

    keys = forms.CharField(
        required=False,
        label="Required keys",
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 5, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One key per line, or separated by commas. Leave empty to require none.",
    )

    def clean_keys(self) -> list[str]:
        names = self.cleaned_data["keys"].replace(",", " ").split()
        keys: list[str] = []
        problems: list[str] = []
        for name in names:
            try:
                keys.append(rules.validate_variable_key(name))
            except ValidationError as exc:
                problems.append(f"{name[:60]!r}: {exc.messages[0]}")
        if problems:
            raise ValidationError(
                "Not a valid key: "
                + "; ".join(problems[:5])
                + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
                code="invalid_key",
            )
        return sorted(set(keys))
