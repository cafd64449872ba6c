"""What every form of the pages is built from: a bound field that knows its help and error ids,
the base form, the widgets for names and values, and the call that turns a rule's refusal into a
field error."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField


def by_rule(validator: Callable[[str], str], value: str) -> str:
    """A value checked by one of `rules`' validators, its first message as the field's error."""
    try:
        return validator(value)
    except ValidationError as exc:
        raise ValidationError(exc.messages[0], code=exc.code) from None


def typed_text(value: str) -> str:
    """Browsers submit a textarea's line breaks as CRLF; a value typed with line breaks (a PEM
    key, say) means LF, as the API and a .env file would have it."""
    return value.replace("\r\n", "\n")


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


def text_input(**attrs: str | bool) -> forms.TextInput:
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
