"""Notifications: which events tell whom, and the "once" rule. Pure.

An :class:`Event` is something that happened (a request decided, a project past 80 % of its
allocation, a period not closed...). Its ``key`` names the occurrence: the same event seen again
(a scheduler retry, a second replica, a re-ingest of the same window) has the same key, so the
outbox stores it once. Each recipient gets one :class:`Notice` per event, keyed
``<event key>|<recipient>``: a notice is delivered at most once per recipient and channel.

Who receives an event is decided here (:func:`audience`), from the people the event concerns
(:class:`People`): requester, PI, members, the site's admins and engineers. How (immediately, in
the daily digest, or not at all) is each recipient's preference (:func:`mode_for`), applied when
the notice is delivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from allocator.errors import InvalidInput
from allocator.model import AllocationRequest, Project, RequestState, Role, User


class Kind(StrEnum):
    """Every event that notifies someone."""

    REQUEST_SUBMITTED = "request.submitted"
    REQUEST_COMMENTED = "request.commented"
    REQUEST_DECIDED = "request.decided"
    REQUEST_WITHDRAWN = "request.withdrawn"
    USAGE_80 = "usage.80"
    USAGE_100 = "usage.100"
    EXHAUSTION_FORECAST = "usage.exhaustion_forecast"
    UNDER_CONSUMPTION = "grant.under_consumption"
    PERIOD_ENDING = "period.ending_unreconciled"
    PERIOD_UNCLOSED = "period.unclosed"
    INGESTION_STALE = "ingestion.stale"
    ENFORCEMENT_CHANGED = "enforcement.changed"
    PROJECT_ENDING = "project.ending"
    #: the daily digest itself (one e-mail listing a day's digested notices)
    DIGEST = "digest"


class Mode(StrEnum):
    IMMEDIATE = "immediate"
    DIGEST = "digest"
    OFF = "off"


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


#: What the recipient is to the event: the one-line reason why they got it.
class Why(StrEnum):
    REQUESTER = "requester"
    PI = "pi"
    MEMBER = "member"
    ADMIN = "admin"
    ENGINEER = "engineer"


#: Who receives each kind (the issue's table). The digest is addressed when it is built.
AUDIENCE: Mapping[Kind, tuple[Why, ...]] = {
    Kind.REQUEST_SUBMITTED: (Why.ADMIN,),
    Kind.REQUEST_COMMENTED: (Why.REQUESTER, Why.PI),
    Kind.REQUEST_DECIDED: (Why.REQUESTER, Why.PI),
    Kind.REQUEST_WITHDRAWN: (Why.REQUESTER, Why.PI),
    Kind.USAGE_80: (Why.PI, Why.MEMBER),
    Kind.USAGE_100: (Why.PI, Why.MEMBER),
    Kind.EXHAUSTION_FORECAST: (Why.PI,),
    Kind.UNDER_CONSUMPTION: (Why.PI, Why.ADMIN),
    Kind.PERIOD_ENDING: (Why.ADMIN,),
    Kind.PERIOD_UNCLOSED: (Why.ADMIN,),
    Kind.INGESTION_STALE: (Why.ENGINEER,),
    Kind.ENFORCEMENT_CHANGED: (Why.PI,),
    Kind.PROJECT_ENDING: (Why.PI, Why.ADMIN),
    Kind.DIGEST: (),
}

#: Kinds nobody can turn off (``off`` is refused; the daily digest is allowed): a decision on
#: one's own request, an allocation used up, and hours the national centre may take back.
MANDATORY = frozenset({Kind.REQUEST_DECIDED, Kind.USAGE_100, Kind.UNDER_CONSUMPTION})

#: The mode when neither the user nor the site (an admin's site default) chose one.
DEFAULT_MODE = Mode.IMMEDIATE


@dataclass(frozen=True, slots=True)
class People:
    """The people an event may concern."""

    requester: str = ""
    pi: str = ""
    #: more PIs (an event about a pool concerns the PIs of every project drawing from it)
    pis: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    engineers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened. ``key`` names the occurrence (the "once" rule); ``subject``
    what it is about (``request:12``, ``project:p1``...); ``params`` what messages show;
    ``link`` the portal path of the page to look at."""

    kind: Kind
    key: str
    subject: str
    at: datetime
    params: tuple[tuple[str, str], ...] = ()
    link: str = "/portal"

    def param(self, name: str, default: str = "") -> str:
        return dict(self.params).get(name, default)


@dataclass(frozen=True, slots=True)
class Notice:
    """One recipient's share of an event: delivered at most once (``key``)."""

    event: Event
    recipient: str
    why: Why

    @property
    def key(self) -> str:
        return notice_key(self.event.key, self.recipient)


def notice_key(event_key: str, recipient: str) -> str:
    return f"{event_key}|{recipient}"


def audience(kind: Kind, people: People, actor: str = "") -> tuple[tuple[str, Why], ...]:
    """The recipients of an event of ``kind`` with the reason of each; everyone once (with
    their first reason in the kind's order). The person who acted (``actor``) is not told of
    their own action."""
    seen: dict[str, Why] = {}
    for why in AUDIENCE[kind]:
        for name in _who(why, people):
            if name and name != actor and name not in seen:
                seen[name] = why
    return tuple(sorted(seen.items()))


def _who(why: Why, people: People) -> Iterable[str]:
    if why is Why.REQUESTER:
        return (people.requester,)
    if why is Why.PI:
        return (people.pi, *people.pis)
    if why is Why.MEMBER:
        return people.members
    if why is Why.ADMIN:
        return people.admins
    return people.engineers


def notices(event: Event, people: People) -> tuple[Notice, ...]:
    """One notice per recipient of ``event`` (its ``by`` parameter, who acted, excluded)."""
    found = audience(event.kind, people, event.param("by"))
    return tuple(Notice(event, name, why) for name, why in found)


def staff(users: Iterable[User]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The site's admins and engineers (usernames, sorted)."""
    listed = sorted(users, key=lambda u: u.username)
    return (
        tuple(u.username for u in listed if u.role is Role.ADMIN),
        tuple(u.username for u in listed if u.role is Role.ENGINEER),
    )


# --- requests -------------------------------------------------------------------------------------

_REQUEST_KIND = {
    RequestState.SUBMITTED: Kind.REQUEST_SUBMITTED,
    RequestState.APPROVED: Kind.REQUEST_DECIDED,
    RequestState.PARTIALLY_APPROVED: Kind.REQUEST_DECIDED,
    RequestState.REJECTED: Kind.REQUEST_DECIDED,
    RequestState.WITHDRAWN: Kind.REQUEST_WITHDRAWN,
}


def request_event(request: AllocationRequest, at: datetime, commented: bool = False) -> Event:
    """The event of a request's transition (or of its latest comment). Keys: one per
    transition (a request is decided once), one per comment (its position)."""
    kind = Kind.REQUEST_COMMENTED if commented else _REQUEST_KIND[request.state]
    occurrence = f"comment{len(request.comments)}" if commented else request.state.value
    params = [
        ("request", str(request.id)),
        ("project", request.project_id),
        ("pool", request.pool_id),
        ("state", request.state.value),
        ("requested_hours", _hours(request.requested_total)),
        ("granted_hours", _hours(request.granted_total)),
        ("by", request.comments[-1].author if commented else request.decided_by or ""),
        ("text", request.comments[-1].text[:500] if commented else request.decision_reason),
    ]
    if request.state is RequestState.SUBMITTED and not commented:
        params[6] = ("by", request.requester)
        params[7] = ("text", request.justification[:500])
    return Event(
        kind,
        f"{kind.value}:request:{request.id}:{occurrence}",
        f"request:{request.id}",
        at,
        tuple(params),
        f"/portal/requests/{request.id}",
    )


def request_people(request: AllocationRequest, project: Project, admins: Iterable[str]) -> People:
    return People(requester=request.requester, pi=project.pi, admins=tuple(admins))


def _hours(seconds: int) -> str:
    """Unit-seconds as hours for a message (two decimals at most)."""
    whole, rest = divmod(seconds, 3600)
    return str(whole) if rest == 0 else f"{seconds / 3600:.2f}"


# --- preferences ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preference:
    """``username`` (``*``: the site default) wants ``kind`` on ``channel`` as ``mode``."""

    username: str
    kind: Kind
    channel: Channel
    mode: Mode


SITE = "*"


def check_preference(kind: str, channel: str, mode: str) -> tuple[Kind, Channel, Mode]:
    """Parse a preference; refuse turning off a mandatory kind (naming the field)."""
    try:
        k = Kind(kind)
    except ValueError:
        raise InvalidInput("kind", f"unknown event kind {kind!r}") from None
    if k is Kind.DIGEST:
        raise InvalidInput("kind", "the digest is not an event one subscribes to")
    try:
        c = Channel(channel)
    except ValueError:
        raise InvalidInput("channel", f"must be one of {[c.value for c in Channel]}") from None
    try:
        m = Mode(mode)
    except ValueError:
        raise InvalidInput("mode", f"must be one of {[m.value for m in Mode]}") from None
    if m is Mode.OFF and k in MANDATORY:
        raise InvalidInput("mode", f"{k.value} cannot be turned off (the digest is allowed)")
    return k, c, m


def mode_for(
    username: str, kind: Kind, channel: Channel, preferences: Iterable[Preference]
) -> Mode:
    """The user's own choice, else the site's default, else :data:`DEFAULT_MODE`. A stored
    ``off`` for a mandatory kind (a site default set before the rule) reads as ``digest``."""
    if kind is Kind.DIGEST:
        return Mode.IMMEDIATE
    found: dict[str, Mode] = {}
    for p in preferences:
        if p.kind is kind and p.channel is channel and p.username in (username, SITE):
            found[p.username] = p.mode
    mode = found.get(username, found.get(SITE, DEFAULT_MODE))
    if mode is Mode.OFF and kind in MANDATORY:
        return Mode.DIGEST
    return mode
