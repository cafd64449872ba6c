"""The domains section of the environment page: add or remove a hostname."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_http_methods

from .. import permissions, selectors, services
from ..actors import Actor
from . import forms
from .environment_page import EnvironmentPage, after_write, render_environment
from .pages import HtmxHttpRequest, no_store


def _managing(
    request: HtmxHttpRequest, deployment_id: int, name: str
) -> selectors.EnvironmentAccess:
    return selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.TO_MANAGE_DOMAINS
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def domains(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    if request.method == "GET":
        environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
        return render_environment(request, EnvironmentPage(environment, role, "domains"))
    environment, role = _managing(request, deployment_id, name)
    form = forms.DomainForm(request.POST)
    done = forms.submit(
        form,
        lambda data: services.add_domain(
            environment=environment,
            hostname=data["hostname"],
            actor=Actor.from_request(request),
            visible_deployment_ids=selectors.visible_deployment_ids(request.user),
        ),
    )
    if done.result is None:
        page = EnvironmentPage(environment, role, "domains", status=done.status, form=form)
        return render_environment(request, page)
    page = EnvironmentPage(environment, role, "domains", notice=f"Added {done.result.hostname}.")
    return after_write(request, page, config_changed=True)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def domain_delete(request: HtmxHttpRequest, deployment_id: int, name: str, pk: int) -> HttpResponse:
    environment, role = _managing(request, deployment_id, name)
    domain = selectors.get_domain(environment, pk)
    if request.method == "GET":
        return render_environment(
            request, EnvironmentPage(environment, role, "domains", deleting=pk)
        )
    services.remove_domain(domain=domain, actor=Actor.from_request(request))
    page = EnvironmentPage(environment, role, "domains", notice=f"Removed {domain.hostname}.")
    return after_write(request, page, config_changed=True)
