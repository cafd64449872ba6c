"""The data servers page (templates/environments/data_servers.html), superusers only (SPEC §13):
the servers with their health, who may use them and what lives on them; register, check and
remove one. An admin URL is typed once and never shown again, even on a refused form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from .. import services
from ..actors import Actor
from ..errors import ServiceError
from ..models import Deployment
from ..selectors.data_services import data_servers_with_services, get_data_server
from . import forms
from .pages import HtmxHttpRequest, no_store, template_for

TEMPLATE = "environments/data_servers.html"


def superuser_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Data servers are superusers' business: for anyone else these pages do not exist."""

    @wraps(view)
    def wrapped(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_superuser:
            # Answered here rather than raised, so that no_store marks the 404 too.
            return render(request, "404.html", status=404)
        return view(request, *args, **kwargs)

    return wrapped


@dataclass(frozen=True)
class DataServersPage:
    """What one response of the page shows besides the servers."""

    status: int = 200
    notice: str = ""
    error: str = ""
    form: forms.DataServerForm | None = None
    removing: int | None = None


def _deployments() -> dict[str, Deployment]:
    return {d.name: d for d in Deployment.objects.order_by("name")}


def _render(
    request: HtmxHttpRequest, page: DataServersPage, deployments: dict[str, Deployment]
) -> HttpResponse:
    context = {
        "servers": data_servers_with_services(),
        "server_form": page.form or forms.DataServerForm(deployment_names=list(deployments)),
        "notice": page.notice,
        "error": page.error,
        "removing": page.removing,
        "kind_labels": forms.KIND_LABELS,
    }
    template = template_for(request, TEMPLATE, "servers")
    return render(request, template, context, status=page.status)


def _after_write(request: HtmxHttpRequest, notice: str) -> HttpResponse:
    if request.htmx:
        return _render(request, DataServersPage(notice=notice), _deployments())
    messages.success(request, notice)
    return redirect(reverse("data_servers"))


@no_store
@require_http_methods(["GET", "POST"])
@login_required
@superuser_only
def data_servers(request: HtmxHttpRequest) -> HttpResponse:
    deployments = _deployments()
    if request.method == "GET":
        return _render(request, DataServersPage(), deployments)
    form = forms.DataServerForm(request.POST, deployment_names=list(deployments))
    done = forms.submit(
        form,
        lambda data: services.add_data_server(
            kind=data["kind"],
            name=data["name"],
            admin_url=data["admin_url"],
            deployments=[deployments[n] for n in data["deployments"]]
            if data["scope"] == "listed"
            else None,
            actor=Actor.from_request(request),
        ),
    )
    if done.result is None:
        # The typed URL is never sent back: the field renders empty (render_value=False) and
        # the service's messages name a step and an error class only.
        return _render(request, DataServersPage(status=done.status, form=form), deployments)
    server = done.result
    return _after_write(request, f"Registered {server.name} ({server.version}).")


@no_store
@require_POST
@login_required
@superuser_only
def data_server_check(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    server = services.check_data_server(server=get_data_server(pk))
    if server.error:
        notice = f"{server.name} failed its health check: {server.error}."
    else:
        notice = f"{server.name} is healthy ({server.version})."
    return _after_write(request, notice)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
@superuser_only
def data_server_remove(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET asks in place; POST removes, refused while a service (even detached) lives on it."""
    server = get_data_server(pk)
    if request.method == "GET":
        return _render(request, DataServersPage(removing=pk), _deployments())
    try:
        services.remove_data_server(server=server, actor=Actor.from_request(request))
    except ServiceError as exc:
        page = DataServersPage(status=forms.refusal_status(exc), error=exc.message)
        return _render(request, page, _deployments())
    return _after_write(request, f"Removed {server.name}.")
