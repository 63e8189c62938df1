"""The portal's languages: English (the messages as written) and French (a gettext catalogue,
``locale/fr/LC_MESSAGES/messages.po``, read by Babel at start-up: no compile step).

The language of a visit is the one its ``gpuhours_lang`` cookie remembers (set by the switch
on every page), else the first of the browser's ``Accept-Language`` the portal speaks, else
English. Numbers and dates are formatted for it (``1 234,5`` in French, ``1,234.5`` in
English); times are shown in the site's time zone.
"""

from __future__ import annotations

import gettext
import importlib.resources
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from connectors.web.words import ENGLISH

LANGUAGES = {"en": "English", "fr": "Français"}
DEFAULT = "en"
COOKIE = "gpuhours_lang"
DOMAIN = "messages"


@cache
def catalogue(lang: str) -> gettext.NullTranslations:
    """The translations of ``lang`` (English: the messages themselves), read once."""
    if lang == DEFAULT:
        return gettext.NullTranslations()
    po = importlib.resources.files("connectors.web") / "locale" / lang / "LC_MESSAGES"
    with (po / f"{DOMAIN}.po").open("rb") as source:
        messages = read_po(source, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def accepted(header: str) -> list[str]:
    """The primary language tags of an ``Accept-Language`` header, most wanted first."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, index, tag.split("-")[0].lower()))
    return [tag for _q, _i, tag in sorted(ranked)]


def choose(cookie: str | None, accept_language: str) -> str:
    """The visit's language: the remembered one, else the browser's first the portal speaks."""
    if cookie in LANGUAGES:
        return str(cookie)
    for tag in accepted(accept_language):
        if tag in LANGUAGES:
            return tag
    return DEFAULT


@dataclass(frozen=True, slots=True)
class Speaker:
    """Translations and formats of one language, for templates and the portal's code."""

    lang: str
    zone: str

    def gettext(self, message: str) -> str:
        return catalogue(self.lang).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return catalogue(self.lang).ngettext(singular, plural, n)

    def word(self, value: str) -> str:
        """A value of the data (a role, a state) as a word of this language."""
        translated = self.gettext(value)
        return ENGLISH.get(value, value) if translated == value else translated

    def number(self, value: float | int | Decimal, decimals: int = 1) -> str:
        pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=self.lang)

    def hours(self, seconds: int) -> str:
        """Unit-seconds as hours, to the tenth (``1 234,5``)."""
        return self.number(Decimal(seconds) / 3600, 1)

    def day(self, value: date | datetime) -> str:
        """A date (of a moment: its local day in the site's time zone)."""
        if isinstance(value, datetime):
            value = value.astimezone(ZoneInfo(self.zone)).date()
        return format_date(value, "medium", locale=self.lang)

    def moment(self, value: datetime) -> str:
        """A moment, to the minute, in the site's time zone."""
        return format_datetime(value, "short", tzinfo=ZoneInfo(self.zone), locale=self.lang)
