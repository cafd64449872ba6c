"""Relative times (environments/templatetags/times.py): "just now", never "0 minutes ago", with
the exact UTC time in <time datetime> and its title."""

import datetime as dt

from django.template import Context, Template
from django.utils import timezone

from environments.web.templatetags.times import relative


def _render(source: str, **context) -> str:
    return Template("{% load times %}" + source).render(Context(context))


def test_under_a_minute_is_just_now():
    now = timezone.now()
    assert relative(now - dt.timedelta(seconds=59), now) == "just now"
    assert relative(now + dt.timedelta(seconds=30), now) == "just now"  # a clock a bit ahead
    assert relative(now - dt.timedelta(minutes=5), now) == "5\xa0minutes ago"
    assert relative(now - dt.timedelta(days=2, hours=3), now) == "2\xa0days, 3\xa0hours ago"


def test_ago_carries_the_exact_utc_time():
    at = timezone.now() - dt.timedelta(hours=2)
    html = _render("{{ at|ago }}", at=at.astimezone(dt.timezone(dt.timedelta(hours=5))))
    stamp = at.astimezone(dt.UTC)
    assert html == (
        f'<time datetime="{stamp:%Y-%m-%dT%H:%M:%SZ}" title="{stamp:%Y-%m-%d %H:%M:%S} UTC">'
        "2\xa0hours ago</time>"
    )
    assert "just now" in _render("{{ at|ago }}", at=timezone.now())
    assert _render("{{ at|ago }}", at=None) == ""


def test_exact_shows_an_absolute_time_in_the_same_element():
    at = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    assert _render("{{ at|exact }}", at=at) == (
        '<time datetime="2026-03-04T05:06:07Z" title="2026-03-04 05:06:07 UTC">'
        "2026-03-04 05:06:07</time>"
    )
    assert ">Mar 4, 05:06</time>" in _render('{{ at|exact:"M j, H:i" }}', at=at)
