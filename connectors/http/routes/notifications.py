"""``/me/notifications`` (one's own preferences and language), ``/users/{username}/
notifications`` and ``/notifications/defaults`` (admins), ``/notifications/outbox`` (admins:
what waits, what was parked, and sending parked ones again)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from allocator import rules
from allocator import services as svc
from allocator.model import Role
from allocator.notices import SITE, Preference
from connectors.db import delivery_queue as queue
from connectors.http.deps import ActorDep, NowDep, ServicesDep, UowDep
from connectors.http.schemas import notifications as s
from connectors.http.schemas.values import Strict

router = APIRouter(prefix="/api/v1")
TAGS: list[str | Enum] = ["notifications"]


@router.get("/me/notifications", tags=TAGS)
def my_notifications(uow: UowDep, actor: ActorDep, services: ServicesDep) -> s.PreferencesOut:
    """What reaches you, for each event kind: immediately, in the daily digest, or not at all;
    and the language of your messages."""
    language = services.settings.notify_language
    return s.PreferencesOut.of(svc.preferences(uow, actor, None, language))


@router.put("/me/notifications/language", tags=TAGS)
def set_my_language(body: s.LanguageIn, uow: UowDep, actor: ActorDep, now: NowDep) -> s.LanguageIn:
    return s.LanguageIn(language=svc.set_language(uow, actor, now, body.language))


@router.put("/me/notifications/{kind}", tags=TAGS)
def set_my_preference(
    kind: s.EventKind, body: s.PreferenceIn, uow: UowDep, actor: ActorDep, now: NowDep
) -> s.PreferenceOut:
    """Choose ``immediate``, ``digest`` or ``off`` for one kind (mandatory kinds refuse
    ``off`` with a 422 naming ``mode``)."""
    return _out(svc.set_preference(uow, actor, now, kind.value, body.mode, body.channel))


@router.get("/users/{username}/notifications", tags=TAGS)
def user_notifications(
    username: str, uow: UowDep, actor: ActorDep, services: ServicesDep
) -> s.PreferencesOut:
    language = services.settings.notify_language
    return s.PreferencesOut.of(svc.preferences(uow, actor, username, language))


@router.put("/users/{username}/notifications/{kind}", tags=TAGS)
def set_user_preference(
    username: str,
    kind: s.EventKind,
    body: s.PreferenceIn,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
) -> s.PreferenceOut:
    return _out(svc.set_preference(uow, actor, now, kind.value, body.mode, body.channel, username))


@router.get("/notifications/defaults", tags=TAGS)
def site_defaults(uow: UowDep, actor: ActorDep, services: ServicesDep) -> s.PreferencesOut:
    """The site's defaults (what a user who chose nothing gets)."""
    rules.require_role(actor, Role.ADMIN)
    return s.PreferencesOut.of(svc.preferences(uow, actor, SITE, services.settings.notify_language))


@router.put("/notifications/defaults/{kind}", tags=TAGS)
def set_site_default(
    kind: s.EventKind, body: s.PreferenceIn, uow: UowDep, actor: ActorDep, now: NowDep
) -> s.PreferenceOut:
    return _out(svc.set_preference(uow, actor, now, kind.value, body.mode, body.channel, SITE))


@router.get("/notifications/outbox", tags=TAGS)
def outbox(services: ServicesDep, actor: ActorDep) -> s.OutboxOut:
    """Deliveries by channel and state, and the parked ones (kept failing): admins only."""
    rules.require_role(actor, Role.ADMIN)
    with services.read_session_factory() as session:
        counts: dict[str, dict[str, int]] = {}
        for (channel, state), n in queue.counts(session).items():
            counts.setdefault(channel, {})[state] = n
        parked = [s.DeliveryOut(**row) for row in queue.parked(session)]
    return s.OutboxOut(counts=counts, parked=parked)


class RetryIn(Strict):
    ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=1000)


class RetryOut(BaseModel):
    released: int


@router.post("/notifications/outbox/retry", tags=TAGS)
def retry_parked(body: RetryIn, services: ServicesDep, actor: ActorDep, now: NowDep) -> RetryOut:
    """Send parked deliveries again (once the relay or the webhook is fixed)."""
    rules.require_role(actor, Role.ADMIN)
    with services.session_factory.begin() as session:
        return RetryOut(released=queue.release_parked(session, body.ids, now))


def _out(p: Preference) -> s.PreferenceOut:
    return s.PreferenceOut(username=p.username, kind=p.kind, channel=p.channel, mode=p.mode)
