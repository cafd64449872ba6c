"""The variables section of the environment page: add, edit, reveal, delete a variable."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import push_url, reswap, retarget

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import NotFound, ServiceError, Undecryptable
from ..models import Environment, Variable
from ..permissions import has_role
from . import forms
from .environment_page import EnvironmentPage, Revealed, after_write, render_environment
from .pages import HtmxHttpRequest, env_url, no_store


def _writable(
    request: HtmxHttpRequest, deployment_id: int, name: str
) -> selectors.EnvironmentAccess:
    return selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_write_variables
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def variables(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """GET: the variables section (htmx cancels land here). POST: add a variable; an existing
    key is refused (409), so an Add never silently replaces a value: Edit does that."""
    if request.method == "GET":
        environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
        response = render_environment(request, EnvironmentPage(environment, role, "variables"))
        asked = {k: request.GET[k] for k in ("page", "q") if request.GET.get(k, "").strip()}
        if request.htmx and asked:
            # The address bar follows the pager and the filter: a reload or a copied link shows
            # the same page of variables.
            response = push_url(response, env_url(environment) + "?" + urlencode(asked))
        return response
    environment, role = _writable(request, deployment_id, name)
    form = forms.VariableForm(request.POST)
    done = forms.submit(
        form,
        lambda data: services.add_variable(
            environment=environment,
            key=data["key"],
            value=data["value"],
            is_secret=bool(data["is_secret"]),
            actor=Actor.from_request(request),
        ),
    )
    if not done.written:
        page = EnvironmentPage(
            environment, role, "variables", status=done.status, form=form, adding=True
        )
        return render_environment(request, page)
    key = form.cleaned_data["key"]
    page = EnvironmentPage(environment, role, "variables", notice=f"Added {key}.", focus=key)
    return after_write(request, page, config_changed=True)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def variable_edit(
    request: HtmxHttpRequest, deployment_id: int, name: str, key: str
) -> HttpResponse:
    environment, role = _writable(request, deployment_id, name)
    variable = selectors.get_variable(environment, key)
    if request.method == "GET":
        form = forms.VariableEditForm(prefill=_prefill(request, environment, role, variable))
        return render_environment(
            request, EnvironmentPage(environment, role, "variables", editing=key, form=form)
        )
    form = forms.VariableEditForm(request.POST)
    actor = Actor.from_request(request)

    def write(data: dict) -> None:
        if data["value"] and selectors.holds_value(variable, data["value"]):
            data["value"] = ""  # saved as it was: nothing to write
        if data["value"]:
            services.set_variable(
                environment=environment,
                key=key,
                value=data["value"],
                is_secret=True if data["make_secret"] else None,
                actor=actor,
            )
        elif data["make_secret"] and not variable.is_secret:
            services.mark_variable_secret(environment=environment, key=key, actor=actor)

    done = forms.submit(form, write)
    if not done.written:
        page = EnvironmentPage(
            environment, role, "variables", status=done.status, editing=key, form=form
        )
        return render_environment(request, page)
    changed = bool(form.cleaned_data["value"] or form.cleaned_data["make_secret"])
    notice = f"Updated {key}." if changed else f"{key} is unchanged."
    page = EnvironmentPage(environment, role, "variables", notice=notice, focus=key)
    return after_write(request, page, config_changed=changed)


def _prefill(
    request: HtmxHttpRequest, environment: Environment, role: str, variable: Variable
) -> str | None:
    """A plain value to edit in place, for those who may reveal it: an audited reveal, as the
    row's Reveal button. None (an empty "new value" field) for a secret, a role that may not
    reveal, or a value the configured keys cannot decrypt."""
    if variable.is_secret or not has_role(role, permissions.TO_REVEAL):
        return None
    try:
        return services.reveal_variable(
            environment=environment, key=variable.key, actor=Actor.from_request(request)
        )
    except (NotFound, Undecryptable):
        return None


@no_store
@require_POST
@login_required
def variable_reveal(
    request: HtmxHttpRequest, deployment_id: int, name: str, key: str
) -> HttpResponse:
    """Show one plain variable's whole value to an admin. Secrets and bindings are never shown.

    The reveal is audited before the value is decrypted, in one transaction: if the event
    cannot be written, the request fails and nothing is decrypted (fail-closed).
    """
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.TO_REVEAL
    )
    variable = selectors.get_variable(environment, key)
    if variable.is_secret:
        error = f"{key} is a secret: its value is write-only and is never shown again."
        page = EnvironmentPage(environment, role, "variables", status=409, error=error)
        response = render_environment(request, page)
        # The Reveal button targets its row; a refusal replaces the whole section instead.
        return reswap(retarget(response, "#variables"), "outerHTML") if request.htmx else response
    value: str | None
    try:
        value = services.reveal_variable(
            environment=environment, key=key, actor=Actor.from_request(request)
        )
    except NotFound as exc:  # deleted meanwhile
        raise Http404(exc.message) from None
    except Undecryptable:
        value = None  # the page says the value cannot be decrypted; the failure is on record
    section = "variable_row" if request.htmx else None
    page = EnvironmentPage(environment, role, section, revealed=Revealed(key, value))
    response = render_environment(request, page)
    response["Cache-Control"] = "no-store"
    return response


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def variable_delete(
    request: HtmxHttpRequest, deployment_id: int, name: str, key: str
) -> HttpResponse:
    environment, role = _writable(request, deployment_id, name)
    selectors.get_variable(environment, key)
    if request.method == "GET":
        page = EnvironmentPage(environment, role, "variables", deleting=key)
        return render_environment(request, page)
    try:
        services.delete_variable(
            environment=environment, key=key, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        status = forms.refusal_status(exc)
        page = EnvironmentPage(environment, role, "variables", status=status, error=exc.message)
        return render_environment(request, page)
    page = EnvironmentPage(environment, role, "variables", notice=f"Deleted {key}.", focus=key)
    return after_write(request, page, config_changed=True)
