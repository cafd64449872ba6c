"""Template hygiene: short lines, URLs from {% url %}, not glued together."""

import re
from pathlib import Path

import pytest
from django.conf import settings

TEMPLATES = sorted((Path(settings.BASE_DIR) / "templates").rglob("*.html"))


def test_templates_are_found():
    assert any(t.name == "environment.html" for t in TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_no_template_line_is_longer_than_200_characters(template):
    long = [n for n, line in enumerate(template.read_text().splitlines(), 1) if len(line) > 200]
    assert not long, f"{template.name}: lines {long}"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_no_url_is_glued_from_pieces(template):
    # `{{ some_url }}{{ key }}/edit/` or a literal "/deployments/...": URLs come from {% url %}.
    glued = re.findall(r"\}\}\{\{[^}]*\}\}/|[\"']/(?:deployments|account)/", template.read_text())
    assert not glued, f"{template.name}: {glued}"


@pytest.mark.parametrize(
    "template", [t for t in TEMPLATES if t.name != "_field.html"], ids=lambda t: t.name
)
def test_fields_render_through_the_field_template(template):
    # A field's own errors are shown by _field.html only (non-field errors are the form's).
    loops = re.findall(
        r"\{% for \w+ in [\w.]+\.(?!non_field_errors)\w+\.errors %\}", template.read_text()
    )
    assert not loops, f"{template.name}: {loops}"


def test_a_field_error_is_named_by_its_widget(client, owner):
    client.force_login(owner)
    html = client.post("/deployments/new/", {"name": "Not A Name!"}).content.decode()
    widget = re.search(r'<input[^>]*id="deployment-name"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in widget and "autofocus" in widget
    assert 'aria-describedby="deployment-name-help deployment-name-error"' in widget
    assert 'id="deployment-name-error"' in html and 'id="deployment-name-help"' in html
