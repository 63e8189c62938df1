"""The French catalogue covers every message of the portal, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import connectors.web
from connectors.web.i18n import Speaker

WEB = Path(connectors.web.__file__).parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2.ext:babel_extract")]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def messages() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map=METHODS, keywords=KEYWORDS
    ):
        found.add(message)
    return found


def test_every_message_of_the_portal_has_a_french_translation_with_its_placeholders() -> None:
    with (WEB / "locale/fr/LC_MESSAGES/messages.po").open("rb") as po:
        catalogue = read_po(po, locale="fr")
    wanted = messages()
    assert len(wanted) > 100  # the extraction found the templates' messages too
    for message in wanted:
        key = message[0] if isinstance(message, tuple) else message
        entry = catalogue.get(key)
        assert entry is not None and not entry.fuzzy, f"no French for {message!r}"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        sources = message if isinstance(message, tuple) else (message,)
        for text in strings:
            assert text, f"empty French for {message!r}"
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(sources[-1]))


def test_numbers_and_dates_are_written_as_each_language_writes_them() -> None:
    from datetime import UTC, datetime

    english, french = Speaker("en", "Europe/Paris"), Speaker("fr", "Europe/Paris")
    assert english.hours(4_500_000) == "1,250" and english.hours(5400) == "1.5"
    assert french.hours(4_500_000) == "1\u202f250" and french.hours(5400) == "1,5"
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # already 1 January in Paris
    assert english.day(late) == "Jan 1, 2027" and french.day(late) == "1 janv. 2027"
    assert french.gettext("My projects") == "Mes projets"
    assert french.ngettext("%(n)s project", "%(n)s projects", 2) == "%(n)s projets"
    assert french.word("partially_approved") == "approuvée en partie"
    assert english.word("partially_approved") == "partially approved"
