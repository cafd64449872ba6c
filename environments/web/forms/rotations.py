"""Rotation (SPEC §14): force a revocation with a reason; rotate a data service every N days."""

from __future__ import annotations

from django import forms

from ... import rules
from ...services.rotations import MIN_REASON
from .fields import PageForm


class RotationForceForm(PageForm):
    reason = forms.CharField(
        min_length=MIN_REASON,
        max_length=500,
        strip=True,
        label="Why revoke now",
        help_text="Instances still on the old credential lose their access. Audited.",
        widget=forms.TextInput(attrs={"id": "rotation-reason", "autocomplete": "off"}),
    )


class RotationScheduleForm(PageForm):
    rotate_every_days = forms.IntegerField(
        min_value=1,
        max_value=rules.MAX_ROTATE_EVERY_DAYS,
        required=False,
        label="Rotate every (days)",
        help_text="Blank: only when asked.",
        widget=forms.NumberInput(attrs={"id": "rotate-every-days"}),
    )
