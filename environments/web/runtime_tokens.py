"""The runtime tokens section of the environment page: create a token (shown once, with the
commands that use it), revoke one (asked in place)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..permissions import has_role
from . import forms
from .environment_page import EnvironmentPage, after_write, render_environment
from .pages import HtmxHttpRequest, env_url, no_store, unconfirmed


def _managing(
    request: HtmxHttpRequest, deployment_id: int, name: str
) -> selectors.EnvironmentAccess:
    return selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.TO_MANAGE_RUNTIME_TOKENS
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def runtime_tokens(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    if request.method == "GET":
        environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
        asked = request.GET.get("revoke", "")
        if asked.isdigit() and has_role(role, permissions.TO_MANAGE_RUNTIME_TOKENS):
            return _ask_revoke(request, environment, role, int(asked))
        return render_environment(request, EnvironmentPage(environment, role, "tokens"))
    environment, role = _managing(request, deployment_id, name)
    form = forms.RuntimeTokenForm(request.POST, environment_name=environment.name)
    done = forms.submit(
        form,
        lambda data: services.create_runtime_token(
            environment=environment,
            name=data["name"],
            expires_in_days=data["expires_in_days"],
            actor=Actor.from_request(request),
        ),
    )
    if done.result is None:
        page = EnvironmentPage(environment, role, "tokens", status=done.status, form=form)
        return render_environment(request, page)
    # The raw token is rendered into this one response and stored nowhere: no redirect.
    page = EnvironmentPage(environment, role, "tokens", new_token=done.result)
    response = render_environment(request, page)
    response["Cache-Control"] = "no-store"
    return response


def _ask_revoke(request: HtmxHttpRequest, environment, role: str, pk: int) -> HttpResponse:
    """ "Revoke …?" in the token's row (htmx), or on a page of its own without JavaScript."""
    token = selectors.get_runtime_token(environment, pk)
    if request.htmx:
        page = EnvironmentPage(environment, role, "tokens", deleting=pk)
        return render_environment(request, page)
    context = {
        "question": f"Revoke {token.name}?",
        "detail": _REVOKE_DETAIL,
        "label": "Revoke",
        "fields": [],
        "action": env_url(environment, "runtime_token_revoke", pk=pk),
        "cancel_url": env_url(environment) + "#tokens",
    }
    return render(request, "environments/confirm.html", context)


_REVOKE_DETAIL = "Instances using this token can no longer fetch their environment at boot."


@no_store
@require_POST
@login_required
def runtime_token_revoke(
    request: HtmxHttpRequest, deployment_id: int, name: str, pk: int
) -> HttpResponse:
    environment, role = _managing(request, deployment_id, name)
    token = selectors.get_runtime_token(environment, pk)
    asking = unconfirmed(
        request,
        question=f"Revoke {token.name}?",
        detail=_REVOKE_DETAIL,
        label="Revoke",
        cancel_url=env_url(environment),
    )
    if asking:
        return asking
    services.revoke_runtime_token(token=token, actor=Actor.from_request(request))
    page = EnvironmentPage(environment, role, "tokens", notice=f"Revoked {token.name}.")
    return after_write(request, page)
