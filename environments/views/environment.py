"""The environment page (templates/environments/environment.html)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from .. import forms, permissions, selectors, services
from ..audit import Actor
from ..errors import NotFound, ServiceError, Undecryptable
from ..models import (
    Environment,
    RuntimeToken,
)
from ..permissions import has_role
from ._common import Context, _env_url, _environment_tabs, _page, _status, _unconfirmed, no_store


def _environment_permissions(
    environment: Environment, role: str, *, refused_target: bool
) -> Context:
    return {
        "can_write_variables": has_role(role, permissions.to_write_variables(environment)),
        "can_reveal": has_role(role, permissions.TO_REVEAL),
        # Production is the end of the pipeline: no target to pick, unless a refusal is shown.
        "can_set_target": has_role(role, permissions.to_deploy_into(environment))
        and (not environment.is_production or refused_target),
        "can_manage_bindings": has_role(role, permissions.TO_MANAGE_BINDINGS),
        "can_manage_domains": has_role(role, permissions.TO_MANAGE_DOMAINS),
        "can_manage_tokens": has_role(role, permissions.TO_MANAGE_RUNTIME_TOKENS),
        "can_delete": not environment.is_protected
        and has_role(role, permissions.TO_MANAGE_ENVIRONMENTS),
        # Pending changes and how config changes go live (SPEC §9): who may deploy there.
        "can_apply": has_role(role, permissions.to_deploy_into(environment)),
        "can_set_config_changes": has_role(role, permissions.to_deploy_into(environment)),
    }


def _rows_context(
    environment: Environment,
    *,
    include_bindings: bool,
    variable_form: forms.VariableForm | None,
    binding_form: forms.BindingForm | None,
) -> Context:
    """The variables and bindings sections: preview rows, the keys that cannot be decrypted."""
    rows = selectors.variable_rows([environment], include_bindings=include_bindings)
    broken = [r for r in rows if r.undecryptable]
    return {
        "variables": [r for r in rows if r.source == "env"],
        "bindings": [r for r in rows if r.source == "binding"],
        "undecryptable_variables": [r.key for r in broken if r.source == "env"],
        "undecryptable_bindings": [r.key for r in broken if r.source == "binding"],
        "variable_form": variable_form or forms.VariableForm(),
        "binding_form": binding_form
        or forms.BindingForm(deployment_name=environment.deployment.name),
    }


def _domains_context(environment: Environment, domain_form: forms.DomainForm | None) -> Context:
    domains = selectors.domains(environment)
    suggestion = selectors.domain_suggestion(environment, domains)
    return {
        "domains": domains,
        "suggested_hostname": suggestion,
        "domain_form": domain_form or forms.DomainForm(initial={"hostname": suggestion}),
    }


def _tokens_context(environment: Environment, token_form: forms.RuntimeTokenForm | None) -> Context:
    return {
        "tokens": selectors.runtime_tokens(environment),
        "token_form": token_form or forms.RuntimeTokenForm(environment_name=environment.name),
    }


def _summary_context(
    environment: Environment,
    *,
    can_set_target: bool,
    promotion_form: forms.PromotionTargetForm | None,
    can_set_config_changes: bool = False,
    config_changes_form: forms.ConfigChangesForm | None = None,
) -> Context:
    if config_changes_form is None and can_set_config_changes:
        config_changes_form = forms.ConfigChangesForm(
            initial={"config_changes": environment.config_changes}
        )
    target = environment.promotes_to
    if promotion_form is None and can_set_target:
        promotion_form = forms.PromotionTargetForm(
            environment_names=list(_other_environments(environment)),
            initial={"promotes_to": target.name if target else ""},
        )
    return {
        "target_environment": target,
        "promotion_form": promotion_form,
        "config_changes_form": config_changes_form,
    }


def _pending_context(environment: Environment) -> Context:
    """The pending changes section: what changed since the live release (names only)."""
    pending = selectors.pending_changes(environment)
    return {
        "pending": pending,
        # The configuration moved on from the live release's (even if no key differs).
        "has_pending": pending.live_revision is not None
        and pending.revision != pending.live_revision,
        "live_release": environment.live_release,
    }


def _environment_page(
    request: HttpRequest,
    environment: Environment,
    role: str,
    *,
    section: str | None = None,
    status: int = 200,
    notice: str = "",
    error: str = "",
    adding: bool = False,
    editing: str | int | None = None,  # the variable key or binding id being edited
    deleting: str | int | None = None,  # the variable key, binding or domain id being deleted
    edit_form: forms.VariableEditForm | forms.BindingEditForm | None = None,
    variable_form: forms.VariableForm | None = None,
    binding_form: forms.BindingForm | None = None,
    domain_form: forms.DomainForm | None = None,
    token_form: forms.RuntimeTokenForm | None = None,
    promotion_form: forms.PromotionTargetForm | None = None,
    new_token: RuntimeToken | None = None,
    raw_token: str = "",  # shown once, in this response only
    row: selectors.VariableRow | None = None,
    revealed_key: str = "",
    revealed_value: str | None = None,
    config_changes_form: forms.ConfigChangesForm | None = None,
    confirming_apply: bool = False,
    pending_notice: str = "",
    pending_error: str = "",
    oob: bool = False,  # the pending section sent beside another section's swap
    extra: Context | None = None,  # what a section of its own adds (the import's diff)
) -> HttpResponse:
    """The environment page, or one of its sections when htmx asked for it.

    Besides its rows, a section shows the key being edited or deleted, bound forms with their
    errors, a notice, a token shown once, a revealed value.
    """
    full = not request.htmx or section is None
    allowed = _environment_permissions(environment, role, refused_target=promotion_form is not None)
    context = (
        _environment_tabs(environment, role)
        | allowed
        | {
            "tab": "environment",
            "section": section,
            # Reversed once here, not once per row: a page of 500 variables would otherwise
            # reverse thousands of URLs (variable URLs are these plus `<key>/edit/` and so on).
            "environment_url": _env_url(environment),
            "variables_url": _env_url(environment, "variables"),
            "notice": notice,
            "error": error,
            "adding": adding,
            "editing": editing,
            "deleting": deleting,
            "edit_form": edit_form,
            "new_token": new_token,
            "raw_token": raw_token,
            "row": row,
            "revealed_key": revealed_key,
            "revealed_value": revealed_value,
            "confirming_apply": confirming_apply,
            "pending_notice": pending_notice,
            "pending_error": pending_error,
            "oob": oob,
        }
    )
    if full or section in ("variables", "bindings"):
        context |= _rows_context(
            environment,
            include_bindings=section != "variables",
            variable_form=variable_form,
            binding_form=binding_form,
        )
        rows_editing = [r for r in context["variables"] if r.key == editing]
        if isinstance(edit_form, forms.VariableEditForm) and any(r.is_secret for r in rows_editing):
            edit_form.withhold_value()  # a secret's typed value is never given back
    if full or section == "domains":
        context |= _domains_context(environment, domain_form)
    if full or section == "tokens":
        context |= _tokens_context(environment, token_form)
    if full:  # the instances section (issue 9): what each runtime instance booted on
        context |= {
            "instances": selectors.instances(environment),
            "live_release": environment.live_release,
        }
    if full or section == "summary":
        context |= _summary_context(
            environment,
            can_set_target=allowed["can_set_target"],
            promotion_form=promotion_form,
            can_set_config_changes=allowed["can_set_config_changes"],
            config_changes_form=config_changes_form,
        )
    if full or section == "pending":
        context |= _pending_context(environment)
    if full or section == "import":
        context |= {"import_form": forms.ImportForm()}
    context |= extra or {}
    template = _page(request, "environments/environment.html", section)
    return render(request, template, context, status=status)


@no_store
@require_GET
@login_required
def environment_detail(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
    return _environment_page(request, environment, role)


def _other_environments(environment: Environment) -> dict[str, Environment]:
    return {
        e.name: e
        for e in selectors.environments_in_order(environment.deployment)
        if e.pk != environment.pk
    }


@no_store
@require_POST
@login_required
def promotion_target(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """Change which environment this one promotes to (or none)."""
    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_deploy_into
    )
    others = _other_environments(environment)
    form = forms.PromotionTargetForm(request.POST, environment_names=list(others))
    status = 400
    if form.is_valid():
        target = others.get(form.cleaned_data["promotes_to"])
        try:
            services.set_promotion_target(
                environment=environment, promotes_to=target, actor=Actor.from_request(request)
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            notice = (
                f"{environment.name} now promotes to {target.name}."
                if target
                else f"{environment.name} now promotes nowhere: it ends its pipeline."
            )
            environment, role = selectors.get_environment_for_user(
                request.user, deployment_id, name
            )
            return _after_write(request, environment, role, "summary", notice)
    return _environment_page(
        request, environment, role, section="summary", status=status, promotion_form=form
    )


def _writable(request: HttpRequest, deployment_id: int, name: str) -> selectors.EnvironmentAccess:
    return selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_write_variables
    )


def _after_write(
    request: HttpRequest,
    environment: Environment,
    role: str,
    section: str,
    notice: str,
    *,
    config_changed: bool = False,
) -> HttpResponse:
    """The section (htmx) or the page (a redirect) after a write, with its notice.

    `config_changed`: the write changed what a runtime gets, so the notice says whether it is
    live or pending, and htmx also gets the pending changes section (out of band)."""
    if config_changed:
        notice += _release_notice(environment)
    if request.htmx:
        response = _environment_page(request, environment, role, section=section, notice=notice)
        if config_changed and environment.is_staged:
            pending = _environment_page(request, environment, role, section="pending", oob=True)
            response.content += pending.content
        return response
    messages.success(request, notice)
    return redirect(_env_url(environment) + f"#{section}")


def _release_notice(environment: Environment) -> str:
    """Whether a change just committed is live or waits for an Apply (SPEC §9)."""
    environment = selectors.refresh_config_state(environment)
    release = environment.live_release
    if release is None:  # nothing deployed: the configuration goes live with the first deploy
        return ""
    if environment.is_staged:
        count = selectors.pending_changes(environment).count
        return (
            f" {environment.name} stages its config changes: this goes live when you apply "
            f"them ({count} pending change{'' if count == 1 else 's'})."
        )
    return (
        f" Live in release {release.number} (v{release.version.number} · config "
        f"{release.config_revision})."
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def variables(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """GET: the variables section (htmx cancels land here). POST: add a variable; an existing
    key is refused (409), so an Add never silently replaces a value: Edit does that."""
    if request.method == "GET":
        environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
        return _environment_page(request, environment, role, section="variables")
    environment, role = _writable(request, deployment_id, name)
    form = forms.VariableForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.add_variable(
                environment=environment,
                key=data["key"],
                value=data["value"],
                is_secret=bool(data["is_secret"]),
                actor=Actor.from_request(request),
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            return _after_write(
                request,
                environment,
                role,
                "variables",
                f"Added {data['key']}.",
                config_changed=True,
            )
    else:
        status = 400
    return _environment_page(
        request,
        environment,
        role,
        section="variables",
        status=status,
        variable_form=form,
        adding=True,
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def variable_edit(request: HttpRequest, deployment_id: int, name: str, key: str) -> HttpResponse:
    environment, role = _writable(request, deployment_id, name)
    variable = selectors.get_variable(environment, key)
    form = forms.VariableEditForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            value, make_secret = form.cleaned_data["value"], form.cleaned_data["make_secret"]
            actor = Actor.from_request(request)
            try:
                if value:
                    services.set_variable(
                        environment=environment,
                        key=key,
                        value=value,
                        is_secret=True if make_secret else None,
                        actor=actor,
                    )
                elif make_secret and not variable.is_secret:
                    services.mark_variable_secret(environment=environment, key=key, actor=actor)
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                changed = bool(value or make_secret)
                notice = f"Updated {key}." if changed else f"{key} is unchanged."
                return _after_write(
                    request, environment, role, "variables", notice, config_changed=changed
                )
    return _environment_page(
        request, environment, role, section="variables", status=status, editing=key, edit_form=form
    )


@no_store
@require_POST
@login_required
def variable_reveal(request: HttpRequest, deployment_id: int, name: str, key: str) -> HttpResponse:
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
        response = _environment_page(
            request, environment, role, section="variables", status=409, error=error
        )
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
    revealed = {"revealed_key": key, "revealed_value": value}
    if request.htmx:
        rows = selectors.variable_rows([environment], include_bindings=False)
        row = next(r for r in rows if r.key == key)
        response = _environment_page(
            request, environment, role, section="variable_row", row=row, **revealed
        )
    else:
        response = _environment_page(request, environment, role, **revealed)
    response["Cache-Control"] = "no-store"
    return response


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def variable_delete(request: HttpRequest, deployment_id: int, name: str, key: str) -> HttpResponse:
    environment, role = _writable(request, deployment_id, name)
    selectors.get_variable(environment, key)
    if request.method == "GET":
        return _environment_page(request, environment, role, section="variables", deleting=key)
    try:
        services.delete_variable(
            environment=environment, key=key, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        return _environment_page(
            request, environment, role, section="variables", status=_status(exc), error=exc.message
        )
    return _after_write(
        request, environment, role, "variables", f"Deleted {key}.", config_changed=True
    )


def _managing(
    request: HttpRequest, deployment_id: int, name: str, need: str
) -> selectors.EnvironmentAccess:
    return selectors.get_environment_for_user(request.user, deployment_id, name, need=need)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def bindings(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    if request.method == "GET":
        environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
        return _environment_page(request, environment, role, section="bindings")
    environment, role = _managing(request, deployment_id, name, permissions.TO_MANAGE_BINDINGS)
    form = forms.BindingForm(request.POST, deployment_name=environment.deployment.name)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            binding = services.create_binding(
                environment=environment,
                kind=data["kind"],
                name=data["name"],
                url=data["url"],
                variable_name=data["variable_name"],
                actor=Actor.from_request(request),
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            notice = f"Bound {binding.name} as {binding.variable_name}."
            return _after_write(request, environment, role, "bindings", notice, config_changed=True)
    # A refused credential is not sent back: the URL field starts empty again.
    form.data = form.data.copy()
    form.data["url"] = ""
    return _environment_page(
        request,
        environment,
        role,
        section="bindings",
        status=status,
        binding_form=form,
        adding=True,
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def binding_edit(request: HttpRequest, deployment_id: int, name: str, pk: int) -> HttpResponse:
    environment, role = _managing(request, deployment_id, name, permissions.TO_MANAGE_BINDINGS)
    binding = selectors.get_binding(environment, pk)
    form = forms.BindingEditForm(
        request.POST or None,
        kind=binding.kind,
        initial={"name": binding.name, "variable_name": binding.variable_name},
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                binding = services.update_binding(
                    binding=binding,
                    url=data["url"],
                    name=data["name"],
                    variable_name=data["variable_name"],
                    actor=Actor.from_request(request),
                )
            except ServiceError as exc:
                forms.add_service_error(form, exc)
                status = _status(exc)
            else:
                notice = f"Updated {binding.name}." + (
                    " The credential was replaced." if data["url"] else ""
                )
                return _after_write(
                    request, environment, role, "bindings", notice, config_changed=True
                )
        form.data = form.data.copy()
        form.data["url"] = ""
    return _environment_page(
        request, environment, role, section="bindings", status=status, editing=pk, edit_form=form
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def binding_delete(request: HttpRequest, deployment_id: int, name: str, pk: int) -> HttpResponse:
    environment, role = _managing(request, deployment_id, name, permissions.TO_MANAGE_BINDINGS)
    binding = selectors.get_binding(environment, pk)
    if request.method == "GET":
        return _environment_page(request, environment, role, section="bindings", deleting=pk)
    services.delete_binding(binding=binding, actor=Actor.from_request(request))
    return _after_write(
        request,
        environment,
        role,
        "bindings",
        f"Removed {binding.name} ({binding.variable_name}).",
        config_changed=True,
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def domains(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    if request.method == "GET":
        environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
        return _environment_page(request, environment, role, section="domains")
    environment, role = _managing(request, deployment_id, name, permissions.TO_MANAGE_DOMAINS)
    form = forms.DomainForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            domain = services.add_domain(
                environment=environment,
                hostname=form.cleaned_data["hostname"],
                actor=Actor.from_request(request),
                visible_deployment_ids=selectors.visible_deployment_ids(request.user),
            )
        except ServiceError as exc:
            forms.add_service_error(form, exc)
            status = _status(exc)
        else:
            return _after_write(
                request,
                environment,
                role,
                "domains",
                f"Added {domain.hostname}.",
                config_changed=True,
            )
    return _environment_page(
        request, environment, role, section="domains", status=status, domain_form=form
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def domain_delete(request: HttpRequest, deployment_id: int, name: str, pk: int) -> HttpResponse:
    environment, role = _managing(request, deployment_id, name, permissions.TO_MANAGE_DOMAINS)
    domain = selectors.get_domain(environment, pk)
    if request.method == "GET":
        return _environment_page(request, environment, role, section="domains", deleting=pk)
    services.remove_domain(domain=domain, actor=Actor.from_request(request))
    return _after_write(
        request, environment, role, "domains", f"Removed {domain.hostname}.", config_changed=True
    )


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def runtime_tokens(request: HttpRequest, deployment_id: int, name: str) -> HttpResponse:
    if request.method == "GET":
        environment, role = selectors.get_environment_for_user(request.user, deployment_id, name)
        return _environment_page(request, environment, role, section="tokens")
    environment, role = _managing(
        request, deployment_id, name, permissions.TO_MANAGE_RUNTIME_TOKENS
    )
    form = forms.RuntimeTokenForm(request.POST, environment_name=environment.name)
    if not form.is_valid():
        return _environment_page(
            request, environment, role, section="tokens", status=400, token_form=form
        )
    token, raw = services.create_runtime_token(
        environment=environment,
        name=form.cleaned_data["name"],
        expires_in_days=form.cleaned_data["expires_in_days"],
        actor=Actor.from_request(request),
    )
    # The raw token is rendered into this one response and stored nowhere: no redirect.
    response = _environment_page(
        request, environment, role, section="tokens", new_token=token, raw_token=raw
    )
    response["Cache-Control"] = "no-store"
    return response


@no_store
@require_POST
@login_required
def runtime_token_revoke(
    request: HttpRequest, deployment_id: int, name: str, pk: int
) -> HttpResponse:
    environment, role = _managing(
        request, deployment_id, name, permissions.TO_MANAGE_RUNTIME_TOKENS
    )
    token = selectors.get_runtime_token(environment, pk)
    unconfirmed = _unconfirmed(
        request,
        question=f"Revoke {token.name}?",
        detail="Instances using this token can no longer fetch their environment at boot.",
        label="Revoke",
        cancel_url=_env_url(environment),
    )
    if unconfirmed:
        return unconfirmed
    services.revoke_runtime_token(token=token, actor=Actor.from_request(request))
    return _after_write(request, environment, role, "tokens", f"Revoked {token.name}.")
