"""Rotation on the pages (SPEC §14): a data service's page shows its rotation (how many instances
run on the new credential, those still on the old one, what happens next and when), with Rotate,
Force revoke (admin, with a reason) and Cancel, each asking in place; it polls while a rotation
runs. The environment page's rotations section sums up the environment's rotations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import DataService, Environment, Role, Rotation
from ..permissions import has_role
from ..selectors.access import valid_id
from . import forms
from .forms.rotations import RotationForceForm, RotationScheduleForm
from .pages import HtmxHttpRequest, env_url, environment_tabs, no_store, template_for

TEMPLATE = "environments/data_service.html"
CONFIRMS = ("rotate", "revoke", "cancel")


@dataclass(frozen=True)
class RotationView:
    """A rotation as a page shows it: its counts, the instances on the old credential, what
    happens next."""

    rotation: Rotation
    waiting: selectors.Convergence
    upcoming: selectors.NextStep

    @property
    def active(self) -> bool:
        return self.rotation.active

    @property
    def summary(self) -> str:
        r, w = self.rotation, self.waiting
        if r.state == Rotation.State.CONVERGING:
            return (
                f"rotating: {w.on_new} of {w.total} instance{'s' if w.total != 1 else ''} "
                "on the new credential"
            )
        if r.state == Rotation.State.STUCK:
            return f"stuck: {w.on_old} of {w.total} instances still on the old credential"
        return {
            Rotation.State.CREATING: "rotating: creating and testing the new credential",
            Rotation.State.RELEASED: "rotating: the new credential waits for Apply",
            Rotation.State.REVOKED: "rotated: the old credential is revoked",
            Rotation.State.FAILED: "rotation failed: the old credential is untouched",
            Rotation.State.CANCELLED: "rotation cancelled",
        }[r.state]


def rotation_view(rotation: Rotation) -> RotationView:
    waiting = selectors.convergence(rotation)
    return RotationView(rotation, waiting, selectors.next_step(rotation, waiting))


def rotations_section(request: HtmxHttpRequest, page: Any) -> dict[str, Any]:
    """The environment page's rotations section: rotations under way or finished today."""
    return _rotations_context(page.environment)


def _rotations_context(environment: Environment) -> dict[str, Any]:
    views = [rotation_view(r) for r in selectors.active_rotations(environment)]
    return {"rotation_views": views, "rotations_active": any(v.active for v in views)}


@no_store
@require_GET
@login_required
def environment_rotations(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """The environment page's rotations section alone (htmx polls it while one runs)."""
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    if not request.htmx:
        return redirect(env_url(environment) + "#rotations")
    rows = selectors.data_services(environment.deployment, environment=environment)
    context = (
        environment_tabs(environment, role)
        | _rotations_context(environment)
        | {"data_services": rows}
    )
    return render(request, "environments/_rotations.html", context)


# The data service's page


def _service(environment: Environment, pk: int) -> DataService:
    service = selectors.get_data_service(environment.deployment, valid_id(pk))
    if service.environment_id != environment.pk:
        raise Http404("No such data service in this environment.")
    service.environment = environment
    return service


def _page(
    request: HtmxHttpRequest,
    environment: Environment,
    role: str,
    service: DataService,
    *,
    confirm: str = "",
    notice: str = "",
    error: str = "",
    form: RotationForceForm | None = None,
    status: int = 200,
) -> HttpResponse:
    current = selectors.current_rotation(service)
    view = rotation_view(current) if current is not None else None
    may_manage = has_role(role, permissions.to_manage_data_services(environment))
    may_force = has_role(role, Role.ADMIN)
    if confirm not in CONFIRMS:
        confirm = ""
    context = environment_tabs(environment, role) | {
        "tab": "environment",
        "service": service,
        "view": view,
        "can_rotate": may_manage
        and service.state == DataService.State.READY
        and (view is None or not view.active),
        "can_cancel": may_manage
        and view is not None
        and view.rotation.state in ("released", "converging", "stuck"),
        "can_force": may_force
        and view is not None
        and view.rotation.state in ("converging", "stuck"),
        "can_schedule": may_manage,
        "confirm": confirm,
        "force_form": form or RotationForceForm(),
        "schedule_form": RotationScheduleForm(
            initial={"rotate_every_days": service.rotate_every_days}
        ),
        "notice": notice,
        "error": error,
        "window_minutes": settings.ROTATION_INSTANCE_WINDOW_SECONDS // 60,
        "page_url": reverse(
            "data_service_page", args=[environment.deployment_id, environment.name, service.pk]
        ),
    }
    return render(request, template_for(request, TEMPLATE, "rotation"), context, status=status)


@no_store
@require_GET
@login_required
def data_service_page(
    request: HtmxHttpRequest, deployment_id: int, name: str, pk: int
) -> HttpResponse:
    """The service's page; htmx polls its rotation region while a rotation runs.
    `?confirm=rotate|revoke|cancel` asks in place."""
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    service = _service(environment, pk)
    return _page(request, environment, role, service, confirm=request.GET.get("confirm", ""))


def _after(
    request: HtmxHttpRequest, environment: Environment, role: str, service: DataService, notice
):
    if request.htmx:
        return _page(request, environment, role, service, notice=notice)
    messages.success(request, notice)
    return redirect(
        reverse("data_service_page", args=[environment.deployment_id, environment.name, service.pk])
    )


def _refused(request, environment, role, service, exc: ServiceError, **kwargs) -> HttpResponse:
    status = forms.refusal_status(exc)
    return _page(request, environment, role, service, error=exc.message, status=status, **kwargs)


@no_store
@require_POST
@login_required
def data_service_rotate(
    request: HtmxHttpRequest, deployment_id: int, name: str, pk: int
) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_manage_data_services
    )
    service = _service(environment, pk)
    try:
        services.start_rotation(service=service, actor=Actor.from_request(request))
    except ServiceError as exc:
        return _refused(request, environment, role, service, exc)
    notice = (
        f"Rotating {service.name}: a second credential is made and tested, then released; the "
        "old one is revoked once no instance runs on it."
    )
    return _after(request, environment, role, service, notice)


def _rotation(service: DataService, rotation_id: int) -> Rotation:
    return selectors.get_rotation(service, valid_id(rotation_id))


@no_store
@require_POST
@login_required
def rotation_revoke(
    request: HtmxHttpRequest, deployment_id: int, name: str, pk: int, rotation_id: int
) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=Role.ADMIN
    )
    service = _service(environment, pk)
    rotation = _rotation(service, rotation_id)
    form = RotationForceForm(request.POST)
    if not form.is_valid():
        return _page(request, environment, role, service, confirm="revoke", form=form, status=400)
    try:
        services.force_revoke(
            rotation=rotation, actor=Actor.from_request(request), reason=form.cleaned_data["reason"]
        )
    except ServiceError as exc:
        return _refused(request, environment, role, service, exc)
    notice = "Revoking the old credential now, whatever instances still run on it."
    return _after(request, environment, role, service, notice)


@no_store
@require_POST
@login_required
def rotation_cancel(
    request: HtmxHttpRequest, deployment_id: int, name: str, pk: int, rotation_id: int
) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_manage_data_services
    )
    service = _service(environment, pk)
    rotation = _rotation(service, rotation_id)
    try:
        services.cancel_rotation(rotation=rotation, actor=Actor.from_request(request))
    except ServiceError as exc:
        return _refused(request, environment, role, service, exc)
    notice = (
        f"Cancelled: {service.variable} is back on the old credential (a config change); the "
        "new one is being revoked."
    )
    return _after(request, environment, role, service, notice)


@no_store
@require_POST
@login_required
def data_service_schedule(
    request: HtmxHttpRequest, deployment_id: int, name: str, pk: int
) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_manage_data_services
    )
    service = _service(environment, pk)
    form = RotationScheduleForm(request.POST)
    if not form.is_valid():
        error = "; ".join(e for errors in form.errors.values() for e in errors)
        return _page(request, environment, role, service, error=error, status=400)
    days = form.cleaned_data["rotate_every_days"]
    try:
        services.set_rotation_schedule(
            service=service, days=days, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        return _refused(request, environment, role, service, exc)
    service.refresh_from_db()
    notice = f"Rotated every {days} days from now on." if days else "Rotated only when asked."
    return _after(request, environment, role, service, notice)
