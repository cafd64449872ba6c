"""{% flash %} sends a section's message to the page's one #flash region; |breakable lets a key
wrap at its underscores."""

from django.contrib.messages import get_messages
from django.contrib.messages.storage import default_storage
from django.template import engines
from django.test import RequestFactory

from environments.web.templatetags.keys import breakable

TEMPLATE = "{% load flash %}{% flash notice error %}{% flash notice error %}"


def _render(request, **context) -> str:
    return engines["django"].from_string(TEMPLATE).render(context, request)


def test_under_htmx_the_message_goes_out_of_band_once_and_escaped():
    request = RequestFactory().post("/", HTTP_HX_REQUEST="true")
    request.htmx = True
    html = _render(request, notice="Added <b>A</b>.", error="")
    assert html.count('hx-swap-oob="innerHTML:#flash"') == 1
    assert "Added &lt;b&gt;A&lt;/b&gt;." in html and "<b>" not in html
    assert 'class="message success"' in html and 'aria-label="Dismiss"' in html


def test_in_a_full_page_it_joins_djangos_messages_once():
    request = RequestFactory().get("/")
    request.htmx = False
    request.session = {}
    request._messages = default_storage(request)
    assert _render(request, notice="", error="Pick a release.").strip() == ""
    assert [(m.tags, str(m)) for m in get_messages(request)] == [("error", "Pick a release.")]


def test_nothing_to_say_renders_nothing():
    request = RequestFactory().get("/")
    request.htmx = True
    assert _render(request, notice="", error="").strip() == ""


def test_keys_break_after_underscores_and_stay_escaped():
    assert breakable("API_BASE_URL") == "API_<wbr>BASE_<wbr>URL"
    assert breakable("A<B_C") == "A&lt;B_<wbr>C"
