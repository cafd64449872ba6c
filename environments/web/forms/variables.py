"""Variables: add, edit, import a .env file, restore an earlier value, the required keys."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from ... import rules
from .fields import PageForm, ValueTextarea, by_rule, text_input, typed_text


class _ValueForm(PageForm):
    def withhold_value(self) -> None:
        """Never render the typed value back: it is, or is becoming, a secret."""
        self.fields["value"].widget.render_value = False


class VariableForm(_ValueForm):
    key = forms.CharField(
        max_length=256, strip=True, widget=text_input(id="new-key", placeholder="API_URL")
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
        return by_rule(rules.validate_variable_key, self.cleaned_data["key"])

    def clean_value(self) -> str:
        return by_rule(rules.validate_variable_value, typed_text(self.cleaned_data["value"]))


class VariableEditForm(_ValueForm):
    """Editing shows an empty "new value" field: left blank, the stored value stays. A plain
    value is pre-filled for those who may reveal it (`prefill`, read through an audited
    reveal); saved unchanged, nothing is written."""

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

    def __init__(self, *args, prefill: str | None = None, **kwargs) -> None:
        if prefill is not None:
            kwargs["initial"] = {**kwargs.get("initial", {}), "value": prefill}
        super().__init__(*args, **kwargs)
        self.prefilled = prefill is not None
        if prefill is not None:
            self.fields["value"].label = "Value"
            self.fields["value"].help_text = "Saved unchanged, nothing is written."
        if self.is_bound and self["make_secret"].value():
            self.withhold_value()

    def clean_value(self) -> str:
        value = typed_text(self.cleaned_data["value"])
        if value == "":
            return value
        return by_rule(rules.validate_variable_value, value)


class ImportForm(PageForm):
    """A pasted or uploaded .env file and the keys to store as secrets. The file is read (and
    refused, naming the line) by `environments.import_parser`; this only picks the text."""

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
        widget=text_input(id="import-secret-keys", placeholder="STRIPE_KEY, SESSION_SECRET"),
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
            text = typed_text(text)
        if not text.strip():
            raise ValidationError("Paste a .env file or choose one to upload.")
        data["text"] = text
        return data


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
