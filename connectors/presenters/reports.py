"""A period's report as a file: its text, media type and ``Content-Disposition``, one rule for
the API and the CLI (the renderings themselves are ``accounting.report``'s)."""

from __future__ import annotations

from collections.abc import Callable

from accounting import report as rpt

#: format -> (rendering, media type, disposition: CSV downloads, JSON and HTML display)
FORMATS: dict[str, tuple[Callable[[rpt.Report], str], str, str]] = {
    "json": (rpt.to_json, "application/json", "inline"),
    "csv": (rpt.to_csv, "text/csv; charset=utf-8", "attachment"),
    "html": (rpt.to_html, "text/html; charset=utf-8", "inline"),
}


def file_name(report: rpt.Report, fmt: str) -> str:
    """``gpuhours-2026Q4.csv``: the period and the format's own extension."""
    return f"gpuhours-{report.period}.{fmt}"


def rendered(report: rpt.Report, fmt: str) -> tuple[str, str, str]:
    """``(text, media type, Content-Disposition)`` of ``report`` in ``fmt``."""
    render, media_type, disposition = FORMATS[fmt]
    return render(report), media_type, f'{disposition}; filename="{file_name(report, fmt)}"'
