"""Forms of protected environments and change requests (SPEC §15)."""

from __future__ import annotations

from django import forms

from ...models.change_requests import (
    MAX_COMMENT,
    MAX_REASON,
    MAX_REQUIRED_APPROVALS,
    MIN_BREAK_GLASS_REASON,
)
from .fields import PageForm


class ProtectionForm(PageForm):
    required_approvals = forms.TypedChoiceField(
        label="Approvals a release needs",
        coerce=int,
        choices=[(0, "None: not protected")]
        + [
            (n, f"{n} approval{'s' if n > 1 else ''}") for n in range(1, MAX_REQUIRED_APPROVALS + 1)
        ],
    )
    allow_self_approval = forms.BooleanField(
        label="The author's own approval counts", required=False
    )
    break_glass = forms.BooleanField(
        label="Owners may apply without approvals (break-glass, with a reason)", required=False
    )


class ReasonForm(PageForm):
    """The optional reason of a request (a deploy, promotion, apply or rollback)."""

    reason = forms.CharField(
        label="Reason for the reviewers", required=False, max_length=MAX_REASON, strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip


class ReviewForm(PageForm):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(
        label="Comment", required=False, max_length=MAX_COMMENT, strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip


class ApplyRequestForm(PageForm):
    break_glass = forms.BooleanField(required=False)
    reason = forms.CharField(
        label="Why it cannot wait for approvals", required=False, max_length=MAX_REASON,
        strip=True, widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("break_glass") and len(data.get("reason") or "") < MIN_BREAK_GLASS_REASON:
            self.add_error(
                "reason",
                f"Say why in at least {MIN_BREAK_GLASS_REASON} characters: break-glass skips "
                "the review.",
            )
        return data
