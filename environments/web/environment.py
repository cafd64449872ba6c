"""The environment page as a whole, and where the environment promotes to (its summary)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from . import forms
from .environment_page import (
    EnvironmentPage,
    after_write,
    other_environments,
    render_environment,
    with_summary,
)
from .pages import HtmxHttpRequest, no_store


@no_store
@require_GET
@login_required
def environment_detail(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    return render_environment(request, EnvironmentPage(environment, role))


@no_store
@require_POST
@login_required
def promotion_target(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """Change which environment this one promotes to (or none)."""
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_deploy_into
    )
    others = other_environments(environment)
    form = forms.PromotionTargetForm(request.POST, environment_names=list(others))
    done = forms.submit(
        form,
        lambda data: services.set_promotion_target(
            environment=environment,
            promotes_to=others.get(data["promotes_to"]),
            actor=Actor.from_request(request),
        ),
    )
    if not done.written:
        page = EnvironmentPage(environment, role, section="settings", status=done.status, form=form)
        return render_environment(request, page)
    target = others.get(form.cleaned_data["promotes_to"])
    notice = (
        f"{environment.name} now promotes to {target.name}."
        if target
        else f"{environment.name} now promotes nowhere: it ends its pipeline."
    )
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    page = EnvironmentPage(environment, role, section="settings", notice=notice)
    return with_summary(request, page, after_write(request, page))
