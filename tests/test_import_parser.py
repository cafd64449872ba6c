"""environments/import_parser.py: reading a dotenv file or a JSON object into the variables to
import."""

from __future__ import annotations

import io

import pytest
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st

from environments import import_parser
from environments.errors import Invalid, TooLarge


@given(st.text(max_size=200))
def test_any_text_is_read_or_refused_naming_a_line_never_quoting_it(text):
    try:
        items = import_parser.parse_dotenv(text)
    except (Invalid, TooLarge) as exc:
        assert exc.field == "body" or exc.field.startswith("line ")
        for line in text.splitlines():
            # A refusal quotes no line (keys defined twice are named: they are valid names).
            if len(line) > 12 and exc.code != "duplicate_key":
                assert line not in exc.message
    else:
        expected = dotenv_values(stream=io.StringIO(text.removeprefix("\ufeff")), interpolate=False)
        assert {item.key: item.value for item in items} == expected


@given(st.lists(st.sampled_from(["", "# note", "   ", "\t# x"]), max_size=5))
def test_the_line_named_is_the_bad_line_after_blank_lines_and_comments(before):
    text = "\n".join([*before, "A=1", "not a line"]) + "\n"
    with pytest.raises(Invalid) as refused:
        import_parser.parse_dotenv(text)
    assert refused.value.field == f"line {len(before) + 2}"


def test_a_sealed_preview_opens_only_for_its_user_environment_and_id(settings):
    sealed = import_parser.seal_preview("A=1\n", {"A"}, user_id=1, environment_id=2)
    assert import_parser.open_preview(sealed, sealed["id"], user_id=1, environment_id=2) == (
        "A=1\n",
        {"A"},
    )
    assert import_parser.open_preview(sealed, sealed["id"], user_id=9, environment_id=2) is None
    assert import_parser.open_preview(sealed, sealed["id"], user_id=1, environment_id=9) is None
    assert import_parser.open_preview(sealed, "other", user_id=1, environment_id=2) is None
    assert import_parser.open_preview(None, "", user_id=1, environment_id=2) is None
    assert "A=1" not in str(sealed)
