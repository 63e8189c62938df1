"""Notification preferences and the outbox as admins see it."""

from __future__ import annotations

from enum import Enum, StrEnum

from pydantic import BaseModel, Field

from allocator.notices import Channel, Kind, Mode, Why
from allocator.services import Preferences
from connectors.http.schemas.values import Strict

#: The kinds one chooses a mode for: every :class:`Kind` but the daily digest itself.
EventKind = Enum(  # type: ignore[misc]
    "EventKind", {k.name: k.value for k in Kind if k is not Kind.DIGEST}, type=str
)


class UserChannel(StrEnum):
    """A user's channel: e-mail (webhooks are the site's, set in ``GPUHOURS_WEBHOOKS``)."""

    EMAIL = Channel.EMAIL.value


class PreferenceIn(Strict):
    mode: Mode = Field(
        description="``off`` is refused for a mandatory kind (``mandatory`` in the settings"
        " read): a 422 naming ``mode``"
    )
    channel: UserChannel = UserChannel.EMAIL


class LanguageIn(Strict):
    language: str = Field(pattern="^(en|fr)$", description="``en`` or ``fr``")


class SettingOut(BaseModel):
    kind: Kind
    channel: Channel
    mode: Mode
    #: ``user`` (chosen by the user), ``site`` (the site's default) or ``default``
    source: str
    #: ``off`` is refused for this kind (the digest is allowed)
    mandatory: bool
    #: who receives this kind of event
    audience: list[Why]


class PreferencesOut(BaseModel):
    username: str
    language: str
    settings: list[SettingOut]

    @classmethod
    def of(cls, p: Preferences) -> PreferencesOut:
        return cls(
            username=p.username,
            language=p.language,
            settings=[
                SettingOut(
                    kind=x.kind,
                    channel=x.channel,
                    mode=x.mode,
                    source=x.source,
                    mandatory=x.mandatory,
                    audience=list(x.audience),
                )
                for x in p.settings
            ],
        )


class PreferenceOut(BaseModel):
    username: str
    kind: Kind
    channel: Channel
    mode: Mode


class DeliveryOut(BaseModel):
    id: int
    key: str
    channel: str
    recipient: str
    attempts: int
    last_error: str


class OutboxOut(BaseModel):
    #: deliveries by ``channel`` then state (pending, sending, sent, digest, digested, off,
    #: parked)
    counts: dict[str, dict[str, int]]
    #: the deliveries that kept failing, newest first (at most 100)
    parked: list[DeliveryOut]
