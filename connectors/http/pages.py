"""Every list answer: one envelope, ``{"items": [...], "next": cursor | null}``.

A list is read in its documented order (newest first where people read the newest: the
journal, the audit trail, requests, statements, tokens, quarantined records; by name or key
otherwise) and cut into pages of ``limit`` items (default :data:`DEFAULT_LIMIT`, at most
:data:`MAX_LIMIT`). ``next`` is an opaque cursor: pass it back as ``cursor`` for the following
page; ``null`` means this was the last. The cursor names the list and the sort key of the last
item given (keyset paging), so an item added meanwhile is neither skipped nor repeated behind
the cursor; a cursor of another list, or anything else, is a 422 naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from allocator.errors import InvalidInput
from allocator.ports import Newest

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

T = TypeVar("T")
Key = tuple[str | int, ...]


class Page(BaseModel, Generic[T]):
    """One page of a list, in the list's order."""

    items: list[T]
    next: str | None = Field(
        description="the cursor of the following page (pass it as `cursor`); null: the last page"
    )


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: str | None


def page_params(
    limit: int = Query(
        default=DEFAULT_LIMIT,
        ge=1,
        le=MAX_LIMIT,
        description=f"items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
    ),
    cursor: str | None = Query(
        default=None,
        min_length=1,
        max_length=500,
        description="the `next` of the previous page; absent: the first page",
    ),
) -> PageParams:
    return PageParams(limit, cursor)


PageQ = Annotated[PageParams, Depends(page_params)]

_BAD = "not a cursor of this list: pass the `next` of its previous page, unchanged"


def _encode(name: str, key: Key) -> str:
    raw = json.dumps([name, list(key)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(name: str, cursor: str) -> Key:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        listed, key = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidInput("cursor", _BAD) from None
    if listed != name or not isinstance(key, list) or not key:
        raise InvalidInput("cursor", _BAD)
    if not all(isinstance(part, str | int) and not isinstance(part, bool) for part in key):
        raise InvalidInput("cursor", _BAD)
    return tuple(key)


def page(
    name: str,
    rows: Sequence[T],
    key: Callable[[T], Key],
    params: PageParams,
    *,
    newest_first: bool = False,
) -> tuple[list[T], str | None]:
    """The page of ``rows`` (in the list's order: ascending ``key``, or descending when
    ``newest_first``) after ``params.cursor``, and the cursor of the next page."""
    ordered = sorted(rows, key=key, reverse=newest_first)
    if params.cursor is not None:
        after = _decode(name, params.cursor)
        try:
            ordered = [r for r in ordered if (key(r) < after if newest_first else key(r) > after)]
        except TypeError:  # a key of another shape than this list's
            raise InvalidInput("cursor", _BAD) from None
    items = ordered[: params.limit]
    more = len(ordered) > params.limit
    return items, _encode(name, key(items[-1])) if more else None


def after_names(name: str, params: PageParams, parts: int) -> tuple[str, ...] | None:
    """The sort key after which ``params`` asks for rows, for a list whose key is ``parts``
    names (``None``: the first page): for a use case that builds only its window of a list."""
    if params.cursor is None:
        return None
    after = _decode(name, params.cursor)
    if len(after) != parts or not all(isinstance(part, str) for part in after):
        raise InvalidInput("cursor", _BAD)
    return tuple(str(part) for part in after)


def newest_window(name: str, params: PageParams) -> Newest:
    """The window of a newest-first list keyed by id that ``params`` asks for: the page's
    rows and one more (which says whether a next page exists), below the cursor's id."""
    before = None
    if params.cursor is not None:
        after = _decode(name, params.cursor)
        if len(after) != 1 or not isinstance(after[0], int):
            raise InvalidInput("cursor", _BAD)
        before = after[0]
    return Newest(first=params.limit + 1, before=before)


def cut(
    name: str, rows: Sequence[T], key: Callable[[T], Key], params: PageParams
) -> tuple[list[T], str | None]:
    """The page of ``rows``, already in order, already after the cursor, read one row beyond
    ``params.limit`` (that row says there is a next page), and the cursor of the next page."""
    items = list(rows[: params.limit])
    more = len(rows) > params.limit
    return items, _encode(name, key(items[-1])) if more else None


def paged(
    name: str,
    rows: Sequence[Any],
    key: Callable[[Any], Key],
    params: PageParams,
    shape: Callable[[Any], T],
    *,
    newest_first: bool = False,
) -> Page[T]:
    """:func:`page`, each item shaped by ``shape``, as the envelope."""
    items, cursor = page(name, rows, key, params, newest_first=newest_first)
    return Page[T](items=[shape(r) for r in items], next=cursor)


def windowed(
    name: str,
    rows: Sequence[Any],
    key: Callable[[Any], Key],
    params: PageParams,
    shape: Callable[[Any], T],
) -> Page[T]:
    """:func:`cut` (``rows``: the window read for ``params``), each item shaped by ``shape``,
    as the envelope."""
    items, cursor = cut(name, rows, key, params)
    return Page[T](items=[shape(r) for r in items], next=cursor)
