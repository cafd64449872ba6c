"""Copying keys from one environment into another (the compare page's "Copy to …")."""

from __future__ import annotations

from django import forms

from .fields import PageForm


class CopyKeysForm(PageForm):
    """The two environments the page compared, and the keys picked to copy from `left` into
    `right`: only keys the comparison offered (in `left`, missing or different in `right`)."""

    left = forms.ChoiceField()
    right = forms.ChoiceField()
    keys = forms.MultipleChoiceField(
        error_messages={"required": "Pick at least one key to copy."},
        widget=forms.CheckboxSelectMultiple,
    )
    confirmed = forms.BooleanField(required=False)

    def __init__(self, *args, environment_names: list[str], copyable: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = [(n, n) for n in environment_names]
        self.fields["left"].choices = names
        self.fields["right"].choices = names
        self.fields["keys"].choices = [(k, k) for k in copyable]
