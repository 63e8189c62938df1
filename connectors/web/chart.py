"""The burn chart of a project in a pool, as SVG drawn on the server (no script, no library).

Over the period (x: its local days, month starts marked; y: hours of the pool's unit): the
hours available (dashed), the hours used so far (solid, cumulated day by day), the projection
at the pace of the last 7 days (dotted) up to the projected exhaustion (a red line, when it
falls within the period) or the period's end (the right edge). The same facts are written out
in the chart's ``<desc>`` and in the sentence under it (:func:`summary`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

from accounting.services import PoolUse
from allocator.periods import Calendar, Period
from connectors.web.i18n import Speaker

W, H = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 46
H_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Series:
    """The chart's facts, in unit-seconds and epoch seconds."""

    start: int
    end: int
    now: int
    available: int
    used: list[tuple[int, int]]
    projection: tuple[tuple[int, int], tuple[int, int]] | None
    exhaustion: int | None

    @property
    def used_now(self) -> int:
        return self.used[-1][1] if self.used else 0


def series(use: PoolUse, period: Period, now: datetime, calendar: Calendar) -> Series:
    start, end = int(period.start.timestamp()), int(period.end.timestamp())
    moment = min(max(int(now.timestamp()), start), end)
    points = [(start, 0)]
    total = 0
    for day, units in use.daily:
        total += units
        at = min(int(calendar.day_start(day + 1).timestamp()), moment, end)
        points.append((max(at, start), total))
    if points[-1][0] < moment:
        points.append((moment, total))
    rate = use.burn.rate_7d
    exhaustion = use.burn.exhaustion
    projection = None
    if rate > 0 and moment < end:
        stop = min(end, exhaustion) if exhaustion is not None else end
        projection = ((moment, total), (stop, total + int(rate * (stop - moment))))
    return Series(start, end, moment, use.balance.available, points, projection, exhaustion)


def _nice(top: float) -> tuple[float, float]:
    """A round upper bound and step (hours) for the y axis."""
    if top <= 0:
        return 1.0, 0.25
    step = 10 ** (len(str(int(top / 4))) - 1) if top >= 4 else 0.5
    for mult in (1, 2, 2.5, 5, 10):
        if top / (step * mult) <= 5:
            step *= mult
            break
    return step * -(-top // step), step


def summary(s: Series, speaker: Speaker, unit: str) -> str:
    """The chart in one or two sentences: its text alternative."""
    _ = speaker.gettext
    text = _("%(used)s of %(available)s h (%(unit)s) used by %(day)s.") % {
        "used": speaker.hours(s.used_now),
        "available": speaker.hours(s.available),
        "unit": unit,
        "day": speaker.day(datetime.fromtimestamp(s.now, UTC)),
    }
    ends = speaker.day(datetime.fromtimestamp(s.end - 1, UTC))
    if s.available > 0 and s.used_now >= s.available:
        return text + " " + _("Nothing remains of the hours allocated.")
    if s.exhaustion is not None and s.exhaustion < s.end:
        return (
            text
            + " "
            + _(
                "At the pace of the last 7 days the hours run out on %(day)s, before the period"
                " ends on %(end)s."
            )
            % {"day": speaker.day(datetime.fromtimestamp(s.exhaustion, UTC)), "end": ends}
        )
    if s.projection is not None:
        return (
            text
            + " "
            + _("At the pace of the last 7 days they last beyond the period's end on %(end)s.")
            % {"end": ends}
        )
    return text + " " + _("No use in the last 7 days; the period ends on %(end)s.") % {"end": ends}


def svg(s: Series, speaker: Speaker, unit: str, ident: str, calendar: Calendar) -> Markup:
    """The chart; ``ident`` makes its element ids unique on the page."""
    _ = speaker.gettext
    top_units = max(s.available, s.used_now, s.projection[1][1] if s.projection else 0)
    ymax, ystep = _nice(top_units / H_SECONDS)

    def x(t: int) -> float:
        return LEFT + (W - LEFT - RIGHT) * (t - s.start) / max(s.end - s.start, 1)

    def y(units: float) -> float:
        return TOP + (H - TOP - BOTTOM) * (1 - units / H_SECONDS / ymax)

    title = _("Hours used in the period (%(unit)s)") % {"unit": unit}
    axis, end_label, out_label = _("hours"), _("period end"), _("runs out")
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(summary(s, speaker, unit))}</desc>',
    ]
    tick = 0.0
    while tick <= ymax + 1e-9:
        ty = y(tick * H_SECONDS)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>'
        )
        label = speaker.number(tick, 1 if ystep < 1 else 0)
        parts.append(f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{label}</text>')
        tick += ystep
    for month in _month_starts(s, calendar):
        mx = x(month)
        label = escape(speaker.day(datetime.fromtimestamp(month, UTC)))
        parts.append(
            f'<line class="axis" x1="{mx:.1f}" x2="{mx:.1f}" y1="{H - BOTTOM}" '
            f'y2="{H - BOTTOM + 5}"/>'
        )
        parts.append(
            f'<text x="{mx:.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">{label}</text>'
        )
    parts += [
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{H - BOTTOM}"/>',
        f'<line class="axis" x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}"/>',
        f'<text x="{LEFT}" y="{TOP - 6}" text-anchor="start">'
        f"{escape(axis)} ({escape(unit)})</text>",
        f'<line class="available" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(s.available):.1f}" '
        f'y2="{y(s.available):.1f}"/>',
        f'<line class="end" x1="{W - RIGHT}" x2="{W - RIGHT}" y1="{TOP}" y2="{H - BOTTOM}"/>',
        f'<text x="{W - RIGHT}" y="{H - 8}" text-anchor="end">{escape(end_label)}</text>',
    ]
    points = " ".join(f"{x(t):.1f},{y(u):.1f}" for t, u in s.used)
    parts.append(f'<polyline class="used" points="{points}"/>')
    if s.projection is not None:
        (t0, u0), (t1, u1) = s.projection
        parts.append(
            f'<polyline class="projected" points="{x(t0):.1f},{y(u0):.1f} '
            f'{x(t1):.1f},{y(u1):.1f}"/>'
        )
    if s.exhaustion is not None and s.exhaustion < s.end:
        ex = x(s.exhaustion)
        parts.append(
            f'<line class="marker" x1="{ex:.1f}" x2="{ex:.1f}" y1="{TOP}" y2="{H - BOTTOM}"/>'
        )
        parts.append(
            f'<text x="{ex - 4:.1f}" y="{TOP + 12}" text-anchor="end">{escape(out_label)}</text>'
        )
    parts.append("</svg>")
    return Markup("\n".join(parts))


def _month_starts(s: Series, calendar: Calendar) -> list[int]:
    """Epoch seconds of the local month starts within the period (its start included)."""
    out: list[int] = []
    local = calendar.local(datetime.fromtimestamp(s.start, UTC))
    year, month = local.year, local.month
    while True:
        start = datetime(year, month, 1, tzinfo=calendar.zone).astimezone(UTC)
        at = int(start.timestamp())
        if at >= s.end:
            return out
        if at >= s.start:
            out.append(at)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
