"""Keyset paging: newest first, a page at a time, each page costing the same however deep it
is (no OFFSET)."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet


class Page[T: Model](list[T]):
    """The rows of one page, newest first (a list), and `next`: the `before` that asks for the
    page after it, None on the last page."""

    def __init__(self, rows: list[T], next: int | None) -> None:
        super().__init__(rows)
        self.next = next


def keyset_page[T: Model](
    rows: QuerySet[T], *, key: str, before: int | None, limit: int
) -> Page[T]:
    """`rows` by `key` descending, those below `before` (if given), at most `limit` of them:
    one query, which reads one row more to know whether another page follows."""
    if before:
        rows = rows.filter(**{f"{key}__lt": before})
    fetched: list[Any] = list(rows.order_by(f"-{key}")[: limit + 1])
    page = fetched[:limit]
    more = len(fetched) > limit
    return Page(page, getattr(page[-1], key) if more and page else None)
