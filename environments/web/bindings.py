"""The bindings section of the environment page: bind, replace, remove a credential. A managed
binding (a data service's, SPEC §13) is left to the data section: its URL is not editable."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_http_methods

from .. import permissions, selectors, services
from ..actors import Actor
from ..models import Binding, Environment
from . import forms
from .environment_page import EnvironmentPage, after_write, render_environment
from .pages import HtmxHttpRequest, no_store


def _managing(
    request: HtmxHttpRequest, deployment_id: int, name: str
) -> selectors.EnvironmentAccess:
    return selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.TO_MANAGE_BINDINGS
    )


def _refuse_managed(
    request: HtmxHttpRequest, environment: Environment, role: str, binding: Binding
) -> HttpResponse | None:
    """A data service's binding goes with its service (destroy or detach it in Data)."""
    if not binding.managed:
        return None
    error = (
        f"{binding.variable_name} belongs to a data service MIOSA manages: its URL is not "
        "editable. Retry, destroy or detach the data service in the Data section instead."
    )
    page = EnvironmentPage(environment, role, "bindings", status=409, error=error)
    return render_environment(request, page)


def _without_credential(form: forms.BindingForm | forms.BindingEditForm) -> None:
    """A refused credential is not sent back: the URL field starts empty again."""
    form.data = form.data.copy()
    form.data["url"] = ""


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def bindings(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    if request.method == "GET":
        environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
        return render_environment(request, EnvironmentPage(environment, role, "bindings"))
    environment, role = _managing(request, deployment_id, name)
    form = forms.BindingForm(request.POST, deployment_name=environment.deployment.name)
    done = forms.submit(
        form,
        lambda data: services.create_binding(
            environment=environment,
            kind=data["kind"],
            name=data["name"],
            url=data["url"],
            variable_name=data["variable_name"],
            actor=Actor.from_request(request),
        ),
    )
    if done.result is None:
        _without_credential(form)
        page = EnvironmentPage(
            environment, role, "bindings", status=done.status, form=form, adding=True
        )
        return render_environment(request, page)
    binding = done.result
    notice = f"Bound {binding.name} as {binding.variable_name}."
    page = EnvironmentPage(environment, role, "bindings", notice=notice)
    return after_write(request, page, config_changed=True)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def binding_edit(request: HtmxHttpRequest, deployment_id: int, name: str, pk: int) -> HttpResponse:
    environment, role = _managing(request, deployment_id, name)
    binding = selectors.get_binding(environment, pk)
    if refused := _refuse_managed(request, environment, role, binding):
        return refused
    form = forms.BindingEditForm(
        request.POST or None,
        kind=binding.kind,
        initial={"name": binding.name, "variable_name": binding.variable_name},
    )
    if request.method == "GET":
        page = EnvironmentPage(environment, role, "bindings", editing=pk, form=form)
        return render_environment(request, page)
    done = forms.submit(
        form,
        lambda data: services.update_binding(
            binding=binding,
            url=data["url"],
            name=data["name"],
            variable_name=data["variable_name"],
            actor=Actor.from_request(request),
        ),
    )
    if done.result is None:
        _without_credential(form)
        page = EnvironmentPage(
            environment, role, "bindings", status=done.status, editing=pk, form=form
        )
        return render_environment(request, page)
    replaced = " The credential was replaced." if form.cleaned_data["url"] else ""
    page = EnvironmentPage(
        environment, role, "bindings", notice=f"Updated {done.result.name}.{replaced}"
    )
    return after_write(request, page, config_changed=True)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def binding_delete(
    request: HtmxHttpRequest, deployment_id: int, name: str, pk: int
) -> HttpResponse:
    environment, role = _managing(request, deployment_id, name)
    binding = selectors.get_binding(environment, pk)
    if refused := _refuse_managed(request, environment, role, binding):
        return refused
    if request.method == "GET":
        page = EnvironmentPage(environment, role, "bindings", deleting=pk)
        return render_environment(request, page)
    services.delete_binding(binding=binding, actor=Actor.from_request(request))
    notice = f"Removed {binding.name} ({binding.variable_name})."
    page = EnvironmentPage(environment, role, "bindings", notice=notice)
    return after_write(request, page, config_changed=True)
