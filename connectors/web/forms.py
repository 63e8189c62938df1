"""Form values as people type them, and refusals placed beside the field they concern.

Amounts of hours follow the one rule of every face (``allocator.hours``: ``12``, ``0.5``, at
most 3 decimals, a whole number of seconds). A refusal of a use case names its field
(``InvalidInput.field``, ``Conflict.field``); :func:`place` maps it to the form's field so
that the page shows it there, and nothing was written (the use case refused before writing).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from accounting.errors import AccountingError
from allocator.errors import AllocatorError, Forbidden, NotFound
from allocator.hours import Sign, parse, to_seconds
from allocator.model import SECONDS_PER_HOUR
from connectors.web.i18n import Speaker

#: A form-level refusal (no field of its own): shown at the top of the form.
FORM = "form"


class FieldErrors(Exception):
    """Refusals by field name: the form is shown again with each beside its field."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def hours(text: str, speaker: Speaker, sign: Sign = Sign.POSITIVE) -> int:
    """Typed hours as unit-seconds; ``ValueError`` with a message for the person."""
    _ = speaker.gettext
    try:
        return to_seconds(parse(text.strip(), sign))
    except ValueError:
        if sign is Sign.ZERO_OR_MORE:
            raise ValueError(
                _("Enter a number of hours, 0 or more, such as 120 or 0.5 (at most 3 decimals).")
            ) from None
        raise ValueError(
            _("Enter a number of hours above 0, such as 120 or 0.5 (at most 3 decimals).")
        ) from None


def typed_hours(seconds: int) -> str:
    """Unit-seconds as a person types hours (``120``, ``0.5``): what a form field shows."""
    text = f"{Decimal(seconds) / SECONDS_PER_HOUR:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def place(exc: AllocatorError, fields: Mapping[str, str], speaker: Speaker) -> FieldErrors:
    """The use case's refusal, beside the field it names (``fields``: the use case's field
    name -> the form's), else at the top of the form."""
    _ = speaker.gettext
    name = fields.get(exc.field or "", FORM)
    if isinstance(exc, Forbidden):
        return FieldErrors({FORM: _("Your role does not allow this.")})
    if isinstance(exc, NotFound):
        return FieldErrors({name: _("Choose one of the list.")})
    return FieldErrors({name: reason(exc)})


def reason(exc: AllocatorError | AccountingError) -> str:
    """A refusal's message without its field's name (shown beside that field)."""
    prefix = f"{exc.field}: "
    if exc.field and exc.message.startswith(prefix):
        return exc.message[len(prefix) :]
    return exc.message
