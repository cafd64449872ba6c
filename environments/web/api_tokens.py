"""The api tokens page (templates/environments/api_tokens.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from .. import selectors, services
from ..actors import Actor
from ..models import (
    ApiToken,
)
from . import forms
from .pages import HtmxHttpRequest, no_store, template_for, unconfirmed


def _api_tokens_page(
    request: HtmxHttpRequest,
    *,
    form: forms.ApiTokenForm | None = None,
    status: int = 200,
    notice: str = "",
    new_token: ApiToken | None = None,
    raw_token: str = "",  # shown once, in this response only
    revoking: int | None = None,  # a token's id: "Revoke …?" asked in its row
) -> HttpResponse:
    context = {
        "tokens": selectors.api_tokens(request.user),
        "form": form or forms.ApiTokenForm(),
        "notice": notice,
        "new_token": new_token,
        "raw_token": raw_token,
        "revoking": revoking,
    }
    template = template_for(request, "environments/api_tokens.html", "tokens")
    return render(request, template, context, status=status)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def api_tokens(request: HtmxHttpRequest) -> HttpResponse:
    """The logged-in user's personal API tokens, for the JSON API."""
    if request.method == "GET":
        asked = request.GET.get("revoke", "")
        if asked.isdigit():
            token = selectors.get_api_token(request.user, int(asked))  # another's: 404
            return _api_tokens_page(request, revoking=token.pk)
        return _api_tokens_page(request)
    form = forms.ApiTokenForm(request.POST)
    done = forms.submit(
        form,
        lambda data: services.create_api_token(
            user=request.user,
            name=data["name"],
            expires_in_days=data["expires_in_days"],
            actor=Actor.from_request(request),
        ),
    )
    if done.result is None:
        return _api_tokens_page(request, form=form, status=done.status)
    token, raw = done.result
    # The raw token is rendered into this one response and stored nowhere: no redirect.
    response = _api_tokens_page(request, new_token=token, raw_token=raw)
    response["Cache-Control"] = "no-store"
    return response


@no_store
@require_POST
@login_required
def api_token_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    token = selectors.get_api_token(request.user, pk)
    asking = unconfirmed(
        request,
        question=f"Revoke {token.name}?",
        detail="Scripts and CI jobs using this token can no longer call the API.",
        label="Revoke",
        cancel_url=reverse("api_tokens"),
    )
    if asking:
        return asking
    services.revoke_api_token(token=token, actor=Actor.from_request(request))
    notice = f"Revoked {token.name}."
    if request.htmx:
        return _api_tokens_page(request, notice=notice)
    messages.success(request, notice)
    return redirect("api_tokens")
