"""The channels: e-mail over SMTP and webhooks over HTTP. Each send either returns or raises
:class:`DeliveryError` (``permanent``: retrying cannot help, e.g. a refused recipient).

Every message carries the delivery's key so that a receiver drops a copy (a worker killed after
sending but before recording it sends again): the e-mail's ``Message-ID`` is derived from it,
a webhook gets it in ``X-Gpuhours-Delivery`` and in the JSON body (``id``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import httpx

from allocator.notices import Event
from connectors.notify.messages import Message
from connectors.settings import Settings, WebhookConfig

SIGNATURE = "X-Gpuhours-Signature"
DELIVERY = "X-Gpuhours-Delivery"


class DeliveryError(Exception):
    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def message_id(key: str) -> str:
    """The same delivery always has the same Message-ID (receivers drop copies by it)."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@gpuhours>"


def email_of(
    settings: Settings, message: Message, to: str, key: str, language: str
) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = settings.mail_from
    mail["To"] = to
    if settings.mail_reply_to:
        mail["Reply-To"] = settings.mail_reply_to
    mail["Message-ID"] = message_id(key)
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    mail["Content-Language"] = language  # after the body: setting it drops Content-* headers
    return mail


def tls_context(settings: Settings) -> ssl.SSLContext:
    if settings.smtp_ca_file is not None:
        return ssl.create_default_context(cafile=str(settings.smtp_ca_file))
    return ssl.create_default_context()


def send_email(settings: Settings, mail: EmailMessage) -> None:
    """One e-mail through the configured relay (STARTTLS, implicit TLS or plain; optional
    login)."""
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout_seconds
    try:
        if settings.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=tls_context(settings)
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=tls_context(settings))
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP authentication refused ({exc.smtp_code})") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryError(f"recipient refused {codes}", all(c >= 500 for c in codes)) from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP relay {host}:{port}: {type(exc).__name__}: {exc}") from exc


def _text(raw: bytes | str) -> str:
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else raw)[:200]


def webhook_body(hook: WebhookConfig, event: Event, message: Message, key: str) -> bytes:
    """The generic JSON, or the Mattermost/Slack incoming-webhook shape (``text``)."""
    if hook.format == "slack":
        body: dict[str, object] = {
            "text": f"**{message.subject}**\n{message.text.split(chr(10))[0]}\n{message.url}"
        }
    else:
        body = {
            "id": key,
            "kind": event.kind.value,
            "subject": event.subject,
            "at": event.at.isoformat(),
            "title": message.subject,
            "text": message.text.split("\n")[0],
            "link": message.url,
            "params": dict(event.params),
        }
    return json.dumps(body, sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(client: httpx.Client, hook: WebhookConfig, body: bytes, key: str) -> None:
    headers = {"Content-Type": "application/json", DELIVERY: key}
    if secret := hook.secret.get_secret_value():
        headers[SIGNATURE] = signature(secret, body)
    try:
        reply = client.post(hook.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook {hook.name}: {type(exc).__name__}: {exc}") from exc
    if reply.status_code >= 300:
        permanent = 400 <= reply.status_code < 500 and reply.status_code not in (408, 429)
        raise DeliveryError(f"webhook {hook.name}: HTTP {reply.status_code}", permanent)
