"""The data section of the environment page (SPEC §13): add a Postgres, Redis or bucket that the
worker creates and binds, follow its state, retry it, destroy or detach it."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import DataService, Environment
from ..selectors.access import valid_id
from ..selectors.data_services import server_names_by_kind
from . import forms
from .environment_page import (
    UNSETTLED,
    EnvironmentPage,
    after_write,
    data_sources,
    render_environment,
)
from .pages import HtmxHttpRequest, env_url, no_store

# Sent when a polled service settles: the bindings section reloads (its managed binding came
# or went).
SETTLED_EVENT = "data-settled"


def _managing(
    request: HtmxHttpRequest, deployment_id: int, name: str
) -> selectors.EnvironmentAccess:
    return selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_manage_data_services
    )


def _service(environment: Environment, pk: int) -> DataService:
    service = selectors.get_data_service(environment.deployment, valid_id(pk))
    if service.environment_id != environment.pk:
        raise Http404("No such data service in this environment.")
    service.environment = environment
    return service


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def data_services(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    if request.method == "GET":
        environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
        return render_environment(request, EnvironmentPage(environment, role, "data"))
    environment, role = _managing(request, deployment_id, name)
    environments = {e.name: e for e in selectors.environments_in_order(environment.deployment)}
    form = forms.DataServiceForm(
        request.POST,
        servers=server_names_by_kind(environment.deployment),
        sources=data_sources(environment),
    )
    done = forms.submit(
        form,
        lambda data: services.create_data_service(
            environment=environment,
            kind=data["kind"],
            server=data["server"] or None,
            variable=data["variable"] or None,
            copy_from=environments.get(data["copy_from"]) if data["kind"] == "postgres" else None,
            actor=Actor.from_request(request),
        ),
    )
    if done.result is None:
        page = EnvironmentPage(
            environment, role, "data", status=done.status, form=form, adding=True
        )
        return render_environment(request, page)
    service = done.result
    copied = (
        f", with a copy of {service.copy_from_environment}'s data" if service.copy_from_id else ""
    )
    notice = (
        f"Creating {service.name} ({forms.KIND_LABELS[service.kind]}) on {service.server.name}"
        f"{copied}; it is bound as {service.variable} once ready."
    )
    return after_write(request, EnvironmentPage(environment, role, "data", notice=notice))


@no_store
@require_GET
@login_required
def data_service_row(
    request: HtmxHttpRequest, deployment_id: int, name: str, pk: int
) -> HttpResponse:
    """A service's row as it is now: htmx polls it while the service is provisioning or
    destroying; once it settles the row stops polling and the bindings section reloads."""
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    try:
        service = selectors.get_data_service(environment.deployment, valid_id(pk))
    except Http404:
        if not request.htmx:
            raise
        return trigger_client_event(HttpResponse(""), SETTLED_EVENT)  # destroyed: the row goes
    if service.environment_id != environment.pk:
        raise Http404("No such data service in this environment.")
    if not request.htmx:
        return redirect(env_url(environment) + "#data")
    page = EnvironmentPage(environment, role, "data_row", service=service)
    response = render_environment(request, page)
    if service.state not in UNSETTLED:
        trigger_client_event(response, SETTLED_EVENT)
    return response


@no_store
@require_POST
@login_required
def data_service_retry(
    request: HtmxHttpRequest, deployment_id: int, name: str, pk: int
) -> HttpResponse:
    environment, role = _managing(request, deployment_id, name)
    service = _service(environment, pk)
    try:
        services.retry_data_service(service=service, actor=Actor.from_request(request))
    except ServiceError as exc:
        status = forms.refusal_status(exc)
        page = EnvironmentPage(environment, role, "data", status=status, error=exc.message)
        return render_environment(request, page)
    page = EnvironmentPage(environment, role, "data", notice=f"Retrying {service.name}.")
    return after_write(request, page)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def data_service_delete(
    request: HtmxHttpRequest, deployment_id: int, name: str, pk: int
) -> HttpResponse:
    """GET asks in place (`?mode=destroy|detach`), saying what goes; POST does it."""
    environment, role = _managing(request, deployment_id, name)
    service = _service(environment, pk)
    source = request.POST if request.method == "POST" else request.GET
    mode = source.get("mode", "destroy")
    if mode not in ("destroy", "detach"):
        mode = "destroy"
    if request.method == "GET":
        page = EnvironmentPage(environment, role, "data", deleting=pk, mode=mode)
        return render_environment(request, page)
    try:
        services.delete_data_service(service=service, actor=Actor.from_request(request), mode=mode)
    except ServiceError as exc:
        status = forms.refusal_status(exc)
        page = EnvironmentPage(environment, role, "data", status=status, error=exc.message)
        return render_environment(request, page)
    if mode == "detach":
        notice = (
            f"Detached {service.name}: {environment.name} no longer gets {service.variable}; "
            f"the {forms.KIND_LABELS[service.kind]} stays on {service.server.name}."
        )
    else:
        notice = f"Destroying {service.name}: {forms.DESTROYS[service.kind]} are being removed."
    page = EnvironmentPage(environment, role, "data", notice=notice)
    return after_write(request, page, config_changed=True)
