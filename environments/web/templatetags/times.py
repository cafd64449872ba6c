"""Times as people read them: `{{ value|ago }}` renders

    <time datetime="2026-11-27T11:15:24Z" title="2026-11-27 11:15:24 UTC">3 minutes ago</time>

"just now" under a minute (never "0 minutes ago"), and the exact UTC time for machines
(datetime) and on hover (title). `{{ value|exact }}` renders the same element with an absolute
time as its text, for lists where the order matters more than the age.
"""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timesince import timesince

register = template.Library()


def _utc(value: dt.datetime) -> dt.datetime:
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value.astimezone(dt.UTC)


def _element(value: dt.datetime, text: str):
    utc = _utc(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
        text,
    )


def relative(value: dt.datetime, now: dt.datetime | None = None) -> str:
    """ "just now", "5 minutes ago", "2 days, 3 hours ago"; "just now" for a time ahead too
    (a clock a little ahead of this one)."""
    now = now or timezone.now()
    if (now - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value, now)} ago"


@register.filter
def ago(value: dt.datetime | None):
    if not value:
        return ""
    return _element(value, relative(value))


@register.filter
def exact(value: dt.datetime | None, fmt: str = "Y-m-d H:i:s"):
    if not value:
        return ""
    return _element(value, date_format(_utc(value), fmt))
