"""What each audit action is called on the audit page ("variable.create" -> "Variable created"),
and which actions are reads (a fetch, a reveal, a view, a preview, an export, a login): the
page's "Changes" view hides those, so that changes stand out; "Everything" and the export keep
them. tests/test_audit_labels.py checks that every action recorded in environments/ is here."""

from __future__ import annotations

LABELS: dict[str, str] = {
    "api_token.create": "API token created",
    "api_token.revoke": "API token revoked",
    "audit.export": "Audit log exported",
    "audit.prune": "Audit log pruned",
    "audit.upgrade": "Audit log upgraded",
    "auth.login_failed": "Login failed",
    "auth.login_locked": "Login locked out",
    "binding.create": "Binding created",
    "binding.delete": "Binding deleted",
    "binding.update": "Binding updated",
    "change_request.apply": "Change request applied",
    "change_request.approve": "Change request approved",
    "change_request.break_glass": "Change request applied without approval (break-glass)",
    "change_request.cancel": "Change request cancelled",
    "change_request.expire": "Change request expired",
    "change_request.open": "Change request opened",
    "change_request.reject": "Change request rejected",
    "change_request.stale": "Change request stale",
    "data_server.add": "Data server added",
    "data_server.remove": "Data server removed",
    "data_service.create": "Data service created",
    "data_service.destroy": "Data service destroyed",
    "data_service.detach": "Data service detached",
    "data_service.fail": "Data service failed",
    "data_service.ready": "Data service ready",
    "data_service.retry": "Data service retried",
    "data_service.schedule": "Data service rotation scheduled",
    "deployment.create": "Deployment created",
    "deployment.delete": "Deployment deleted",
    "deployment.set_apex": "Apex domain set",
    "deployment.update": "Deployment updated",
    "domain.add": "Domain added",
    "domain.remove": "Domain removed",
    "environment.compare": "Environments compared",
    "environment.config_changes": "Config change mode set",
    "environment.create": "Environment created",
    "environment.delete": "Environment deleted",
    "environment.protection": "Protection set",
    "environment.set_promotion_target": "Promotion target set",
    "keys.rotate": "Encryption keys rotated",
    "member.add": "Member added",
    "member.change_role": "Member role changed",
    "member.invite": "Member invited",
    "member.invite_accept": "Invitation accepted",
    "member.invite_revoke": "Invitation revoked",
    "member.remove": "Member removed",
    "release.apply": "Pending changes applied",
    "release.rollback": "Rolled back",
    "required_keys.set": "Required keys set",
    "rotation.cancel": "Rotation cancelled",
    "rotation.converged": "Rotation converged",
    "rotation.fail": "Rotation step failed",
    "rotation.force": "Rotation forced",
    "rotation.release": "Rotated credential released",
    "rotation.revoke": "Old credential revoked",
    "rotation.start": "Rotation started",
    "runtime.fetch": "Runtime fetched config",
    "runtime_token.create": "Runtime token created",
    "runtime_token.revoke": "Runtime token revoked",
    "variable.copy": "Variable copied",
    "variable.create": "Variable created",
    "variable.delete": "Variable deleted",
    "variable.import": "Variables imported",
    "variable.import_preview": "Import previewed",
    "variable.make_secret": "Variable made secret",
    "variable.restore": "Variable restored",
    "variable.reveal": "Variable revealed",
    "variable.update": "Variable updated",
    "version.apply": "Pending changes applied",
    "version.config": "Config change released",
    "version.create": "Version created",
    "version.deploy": "Version deployed",
    "version.promote": "Version promoted",
    "version.rollback": "Rolled back",
}

# Reads: on record, but they change nothing. Hidden by the page's "Changes" view.
READS: frozenset[str] = frozenset(
    {
        "audit.export",
        "auth.login_failed",
        "auth.login_locked",
        "environment.compare",
        "runtime.fetch",
        "variable.import_preview",
        "variable.reveal",
    }
)


def label(action: str) -> str:
    """The action's label; an unknown one reads as words ("thing.do_it" -> "Thing: do it")."""
    if action in LABELS:
        return LABELS[action]
    noun, _, verb = action.partition(".")
    words = noun.replace("_", " ").strip().capitalize() or "Event"
    return f"{words}: {verb.replace('_', ' ')}" if verb else words
