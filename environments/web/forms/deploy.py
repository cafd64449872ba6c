"""Deploying an existing version into an environment ("Deploy a version here")."""

from __future__ import annotations

from django import forms

from .fields import PageForm


class DeployVersionForm(PageForm):
    version = forms.TypedChoiceField(
        coerce=int,
        label="Version",
        error_messages={"invalid_choice": "Pick one of the recent versions listed."},
    )
    confirmed = forms.BooleanField(required=False)

    def __init__(self, *args, choices: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(str(n), label) for n, label in choices]
        self.fields["version"].widget.attrs["id"] = "deploy-version"
