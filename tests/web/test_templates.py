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
