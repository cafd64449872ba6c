"""The runtime tokens section of the environment page: create a token (shown once), revoke one."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_http_methods, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
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
        detail="Instances using this token can no longer fetch their environment at boot.",
        label="Revoke",
        cancel_url=env_url(environment),
    )
    if asking:
        return asking
    services.revoke_runtime_token(token=token, actor=Actor.from_request(request))
    page = EnvironmentPage(environment, role, "tokens", notice=f"Revoked {token.name}.")
    return after_write(request, page)
