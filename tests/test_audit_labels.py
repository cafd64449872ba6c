"""Every audit action recorded anywhere in environments/ has a label for people (issue 21, item
12), found by reading the source: a new action without a label fails here."""

import re
from pathlib import Path

from environments import audit_labels
from environments.models import Release

SOURCE = Path(__file__).resolve().parents[1] / "environments"
# The calls that name an action first: audit.record and the services' wrappers around it.
CALL = re.compile(r"\b(?:record|audit_service|audit_rotation)\(\s*([^,]+?),", re.S)
LITERAL = re.compile(r"""f?"([a-z_]+\.[a-z_{}]+)\"""")


def recorded_actions() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        for call in CALL.finditer(text):
            found.update(LITERAL.findall(call.group(1)))
        # An action computed before the call ("release.rollback" if … else f"version.{kind}").
        for line in text.splitlines():
            if re.match(r"\s*action = ", line):
                found.update(LITERAL.findall(line))
    expanded = set()
    for action in found:
        if action == "version.{kind}":
            expanded.update(f"version.{kind}" for kind in Release.Kind.values)
        else:
            expanded.add(action)
    return expanded


def test_the_scan_finds_the_actions_it_should():
    actions = recorded_actions()
    assert len(actions) > 50
    assert {"variable.create", "variable.update", "runtime.fetch", "audit.export"} <= actions
    assert {"rotation.release", "data_service.create", "auth.login_locked"} <= actions
    assert {"version.deploy", "release.rollback", "variable.import_preview"} <= actions


def test_every_recorded_action_has_a_label():
    missing = sorted(recorded_actions() - audit_labels.LABELS.keys())
    assert missing == []


def test_every_read_is_a_labelled_action():
    assert audit_labels.READS - audit_labels.LABELS.keys() == set()


def test_an_unknown_action_still_reads_as_words():
    assert audit_labels.label("variable.create") == "Variable created"
    assert audit_labels.label("widget.spin_up") == "Widget: spin up"
    assert audit_labels.label("odd") == "Odd"
