"""Notification preferences: each user chooses, per event kind, immediate, daily digest or off
(the kinds of :data:`allocator.notices.MANDATORY` cannot be turned off), and the language of
their messages; admins set the site's defaults (username ``*``) and may set anyone's. Every
change is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from allocator import notices as n
from allocator import rules
from allocator.errors import Forbidden, InvalidInput, NotFound
from allocator.model import Role, User
from allocator.ports import UnitOfWork
from allocator.services._common import ADMIN, record

LANGUAGES = ("en", "fr")


@dataclass(frozen=True, slots=True)
class Setting:
    """A kind's effective mode for one user on one channel, and where it comes from
    (``user``, ``site`` or ``default``)."""

    kind: n.Kind
    channel: n.Channel
    mode: n.Mode
    source: str
    mandatory: bool
    audience: tuple[n.Why, ...]


@dataclass(frozen=True, slots=True)
class Preferences:
    username: str
    language: str
    settings: tuple[Setting, ...]


def _owner(actor: User, username: str | None) -> str:
    """Whose preferences: one's own; anyone's (or the site's, ``*``) for an admin."""
    target = username or actor.username
    if target != actor.username and actor.role is not Role.ADMIN:
        raise Forbidden("only an admin may change another user's or the site's preferences")
    return target


def preferences(
    uow: UnitOfWork, actor: User, username: str | None = None, default_language: str = "en"
) -> Preferences:
    """The effective preferences of ``username`` (default: the actor; ``*``: the site's)."""
    target = _owner(actor, username)
    with uow:
        if target != n.SITE and uow.users.get(target) is None:
            raise NotFound("user", target, field="username")
        stored = list(uow.preferences.of([target]))
        language = uow.preferences.languages([target]).get(target, default_language)
    mine = {(p.username, p.kind, p.channel) for p in stored}
    settings = []
    for kind in n.Kind:
        if kind is n.Kind.DIGEST:
            continue
        if (target, kind, n.Channel.EMAIL) in mine:
            source = "site" if target == n.SITE else "user"
        elif (n.SITE, kind, n.Channel.EMAIL) in mine:
            source = "site"
        else:
            source = "default"
        settings.append(
            Setting(
                kind,
                n.Channel.EMAIL,
                n.mode_for(target, kind, n.Channel.EMAIL, stored),
                source,
                kind in n.MANDATORY,
                n.AUDIENCE[kind],
            )
        )
    return Preferences(target, language, tuple(settings))


def set_preference(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    kind: str,
    mode: str,
    channel: str = "email",
    username: str | None = None,
) -> n.Preference:
    """Choose how ``kind`` reaches ``username`` (default: the actor; ``*``: the site's
    default, admins only)."""
    target = _owner(actor, username)
    k, c, m = n.check_preference(kind, channel, mode)
    if c is not n.Channel.EMAIL:
        raise InvalidInput("channel", "webhooks are the site's (GPUHOURS_WEBHOOKS), not a user's")
    if target == n.SITE:
        rules.require_role(actor, *ADMIN)
    preference = n.Preference(target, k, c, m)
    with uow:
        if target != n.SITE and uow.users.get(target) is None:
            raise NotFound("user", target, field="username")
        uow.preferences.put(preference)
        record(uow, actor, now, "notify.preference", f"user:{target}", f"{k} {c}: {m}")
        uow.commit()
    return preference


def set_language(
    uow: UnitOfWork, actor: User, now: datetime, language: str, username: str | None = None
) -> str:
    target = _owner(actor, username)
    if target == n.SITE:
        raise InvalidInput(
            "username", "the site's language is a setting (GPUHOURS_NOTIFY_LANGUAGE)"
        )
    if language not in LANGUAGES:
        raise InvalidInput("language", f"must be one of {list(LANGUAGES)}")
    with uow:
        if uow.users.get(target) is None:
            raise NotFound("user", target, field="username")
        uow.preferences.set_language(target, language)
        record(uow, actor, now, "notify.language", f"user:{target}", language)
        uow.commit()
    return language
