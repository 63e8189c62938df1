"""The messages, in English and French: short, a link to the right portal page and a line
saying why the reader got it. ``{name}`` fields are the event's parameters."""

from __future__ import annotations

import html
import json
import string
from dataclasses import dataclass
from typing import Any

from allocator.notices import Event, Kind

LANGUAGES = ("en", "fr")

#: kind -> language -> (subject, body)
TEXTS: dict[Kind, dict[str, tuple[str, str]]] = {
    Kind.REQUEST_SUBMITTED: {
        "en": (
            "Request {request} for {project} submitted",
            "{by} asks {requested_hours} h of {pool} for {project}: {text}",
        ),
        "fr": (
            "Demande {request} de {project} déposée",
            "{by} demande {requested_hours} h de {pool} pour {project} : {text}",
        ),
    },
    Kind.REQUEST_COMMENTED: {
        "en": ("Request {request} of {project}: new comment", "{by} wrote: {text}"),
        "fr": ("Demande {request} de {project} : nouveau commentaire", "{by} a écrit : {text}"),
    },
    Kind.REQUEST_DECIDED: {
        "en": (
            "Request {request} of {project}: {state}",
            "{by} decided: {state}, {granted_hours} h of {requested_hours} h granted. {text}",
        ),
        "fr": (
            "Demande {request} de {project} : {state}",
            "{by} a décidé : {state}, {granted_hours} h accordées sur {requested_hours} h. {text}",
        ),
    },
    Kind.REQUEST_WITHDRAWN: {
        "en": ("Request {request} of {project} withdrawn", "{by} withdrew it. {text}"),
        "fr": ("Demande {request} de {project} retirée", "{by} l'a retirée. {text}"),
    },
    Kind.USAGE_80: {
        "en": (
            "{project} has used {percent} % of its {pool} hours",
            "{project} has used {used_hours} h of its {allocated_hours} h in {pool} for {period}.",
        ),
        "fr": (
            "{project} a consommé {percent} % de ses heures {pool}",
            "{project} a consommé"
            " {used_hours} h de ses {allocated_hours} h sur {pool} pour {period}.",
        ),
    },
    Kind.USAGE_100: {
        "en": (
            "{project} has used all its {pool} hours",
            "{project} has used {used_hours} h of its {allocated_hours} h in {pool} for {period}.",
        ),
        "fr": (
            "{project} a consommé toutes ses heures {pool}",
            "{project} a consommé"
            " {used_hours} h de ses {allocated_hours} h sur {pool} pour {period}.",
        ),
    },
    Kind.EXHAUSTION_FORECAST: {
        "en": (
            "{project} will run out of {pool} hours before {period} ends",
            "At its pace of the last 7 days, {project} uses up its hours around {exhaustion}.",
        ),
        "fr": (
            "{project} va épuiser ses heures {pool} avant la fin de {period}",
            "Au rythme des 7 derniers jours, {project} épuise ses heures vers le {exhaustion}.",
        ),
    },
    Kind.UNDER_CONSUMPTION: {
        "en": (
            "{pool}: hours at risk at the {check_date} check",
            "{pool} should have consumed"
            " {required_hours} h by {check_date} and is on course to miss it ({used_hours} h"
            " so far). Unused hours may be taken back.",
        ),
        "fr": (
            "{pool} : heures menacées au point du {check_date}",
            "{pool} devrait avoir"
            " consommé {required_hours} h au {check_date} et n'y arrivera pas à ce rythme"
            " ({used_hours} h à ce jour). Les heures non consommées peuvent être reprises.",
        ),
    },
    Kind.PERIOD_ENDING: {
        "en": (
            "{period} ends {end} with {lines} unreconciled line(s)",
            "Reconcile {period} before its end on {end}: {lines} line(s) are unresolved.",
        ),
        "fr": (
            "{period} se termine le {end} avec {lines} ligne(s) non rapprochée(s)",
            "Rapprochez {period} avant le {end} : {lines} ligne(s) restent à résoudre.",
        ),
    },
    Kind.PERIOD_UNCLOSED: {
        "en": ("{period} ended {end} and is not closed", "{period} ended on {end}; close it."),
        "fr": (
            "{period} s'est terminée le {end} et n'est pas close",
            "{period} s'est terminée le {end} ; clôturez-la.",
        ),
    },
    Kind.INGESTION_STALE: {
        "en": (
            "Ingestion of {cluster} is stale",
            "No successful ingestion of {cluster} since {last_success}. Last error: {error}",
        ),
        "fr": (
            "L'ingestion de {cluster} est en retard",
            "Aucune ingestion réussie de {cluster}"
            " depuis {last_success}. Dernière erreur : {error}",
        ),
    },
    Kind.ENFORCEMENT_CHANGED: {
        "en": ("Enforcement changed for {project}", "{text}"),
        "fr": ("Application des limites modifiée pour {project}", "{text}"),
    },
    Kind.PROJECT_ENDING: {
        "en": (
            "{project} ends on {end}",
            "{project} ends on {end}: no hours are allocated to it for a later period, and"
            " its unused hours then return to {chair}.",
        ),
        "fr": (
            "{project} se termine le {end}",
            "{project} se termine le {end} : aucune heure ne lui est allouée pour une période"
            " ultérieure, et ses heures non consommées reviennent alors à {chair}.",
        ),
    },
    Kind.DIGEST: {
        "en": ("gpuhours: your digest of {day}", "{count} notification(s) of {day}:"),
        "fr": ("gpuhours : votre résumé du {day}", "{count} notification(s) du {day} :"),
    },
}

WHY = {
    "en": {
        "requester": "You get this because you made the request.",
        "pi": "You get this because you are the project's PI.",
        "member": "You get this because you are a member of the project.",
        "admin": "You get this because you are a gpuhours administrator.",
        "engineer": "You get this because you are a gpuhours engineer.",
        "digest": "You get this because you chose the daily digest.",
        "webhook": "Sent to this channel by gpuhours.",
    },
    "fr": {
        "requester": "Vous recevez ce message car vous avez fait la demande.",
        "pi": "Vous recevez ce message car vous êtes responsable du projet.",
        "member": "Vous recevez ce message car vous êtes membre du projet.",
        "admin": "Vous recevez ce message car vous administrez gpuhours.",
        "engineer": "Vous recevez ce message car vous êtes ingénieur gpuhours.",
        "digest": "Vous recevez ce message car vous avez choisi le résumé quotidien.",
        "webhook": "Envoyé sur ce canal par gpuhours.",
    },
}

#: a request's state as a reader says it
STATES = {
    "en": {"partially_approved": "partially approved"},
    "fr": {
        "submitted": "déposée",
        "approved": "acceptée",
        "partially_approved": "acceptée en partie",
        "rejected": "refusée",
        "withdrawn": "retirée",
    },
}

PREFERENCES = {"en": "Your notification settings", "fr": "Vos préférences de notification"}


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    text: str
    html: str
    url: str


def fill(template: str, params: dict[str, str]) -> str:
    return string.Formatter().vformat(template, (), _Blank(params)).strip()


def render(event: Event, language: str, why: str, portal_url: str) -> Message:
    """The message of ``event`` in ``language`` (English when unknown) for a reader who gets it
    because of ``why``."""
    lang = language if language in LANGUAGES else "en"
    params = dict(event.params)
    if "state" in params:
        params["state"] = STATES[lang].get(params["state"], params["state"])
    lines: list[tuple[str, str]] = []
    if event.kind is Kind.DIGEST:
        items = json.loads(params.get("items", "[]"))
        params["count"] = str(len(items))
        lines = [_item(item, lang, portal_url) for item in items]
    subject_t, body_t = TEXTS[event.kind][lang]
    subject, body = fill(subject_t, params), fill(body_t, params)
    url = portal_url.rstrip("/") + event.link
    reason = WHY[lang].get(why, "")
    settings = portal_url.rstrip("/") + "/portal/notifications"
    text = "\n".join(
        [
            body,
            *(f"- {s}: {u}" for s, u in lines),
            "",
            url,
            "",
            f"{reason} {PREFERENCES[lang]}: {settings}",
        ]
    )
    items_html = "".join(f'<li><a href="{_e(u)}">{_e(s)}</a></li>' for s, u in lines)
    page = (
        f"<html><body><p>{_e(body)}</p>"
        + (f"<ul>{items_html}</ul>" if items_html else "")
        + f'<p><a href="{_e(url)}">{_e(url)}</a></p>'
        + f'<p><small>{_e(reason)} <a href="{_e(settings)}">{_e(PREFERENCES[lang])}</a>'
        + "</small></p></body></html>"
    )
    return Message(subject, text, page, url)


def _item(item: dict[str, Any], lang: str, portal_url: str) -> tuple[str, str]:
    kind = Kind(item["kind"])
    subject = fill(TEXTS[kind][lang][0], {k: str(v) for k, v in item["params"].items()})
    return subject, portal_url.rstrip("/") + str(item["link"])


def _e(value: str) -> str:
    return html.escape(value, quote=True)
