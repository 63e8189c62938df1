"""A window of an append-only table read newest first (:class:`allocator.ports.Newest`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from allocator.ports import Newest


def newest(
    query: Select[Any], id_column: InstrumentedAttribute[int], window: Newest
) -> Select[Any]:
    """``query`` cut to ``window``: its rows with an id below ``window.before``, newest first,
    at most ``window.first`` of them (the primary key's index serves it: no full read)."""
    if window.before is not None:
        query = query.where(id_column < window.before)
    return query.order_by(id_column.desc()).limit(window.first)
