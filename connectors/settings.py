"""Settings, read once at the composition root (``GPUHOURS_*`` environment variables)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from allocator.errors import InvalidInput
from allocator.periods import Calendar, PeriodScheme


class ClusterConfig(BaseModel):
    """One Slurm cluster whose usage gpuhours ingests."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    #: slurmrestd base URL (``http://127.0.0.1:6820``); empty: no REST (sacct or file import).
    url: str = ""
    #: ``rest`` (slurmrestd), ``sacct`` (run sacct locally) or ``file`` (imports only).
    source: str = Field(default="rest", pattern="^(rest|sacct|file)$")
    user: str = "gpuhours"
    #: ``v0.0.38`` ... ``v0.0.43``; empty: discovered from the server.
    api_version: str = ""
    token_file: Path | None = None
    token_env: str = ""
    jwt_key_file: Path | None = None
    token_lifespan: int = Field(default=1800, ge=60)
    overlap_seconds: int = Field(default=3600, ge=0)
    chunk_seconds: int = Field(default=86400, ge=60)
    initial_lookback_seconds: int = Field(default=7 * 86400, ge=0)
    interval_minutes: int = Field(default=10, ge=1)
    #: Overrides ``interval_minutes`` when set (short intervals for tests and demos).
    interval_seconds: int | None = Field(default=None, ge=1)
    timeout_seconds: float = Field(default=300.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10)
    #: Enforcement (README "Enforcement"): ``off``, ``plan`` (read and compare only) or
    #: ``apply`` (``gpuhours enforce apply`` may write to Slurm).
    enforce: str = Field(default="off", pattern="^(off|plan|apply)$")
    #: The QOS ladder: below the allocation, inside the grace band, beyond it.
    qos_normal: str = Field(default="normal", min_length=1)
    qos_grace: str = Field(default="gpuhours-grace", min_length=1)
    qos_blocked: str = Field(default="gpuhours-blocked", min_length=1)
    #: The grace band past the allocation, in thousandths of it (250: +25 %).
    grace_milli: int = Field(default=250, ge=0, le=10_000)
    #: An ingestion older than this (or failing) makes enforcement unsure: it tightens nothing.
    enforce_max_lag_minutes: int = Field(default=60, ge=1)
    #: How often the scheduler runs plan + apply on a cluster set to ``apply``.
    enforce_interval_minutes: int = Field(default=15, ge=1)
    #: Account and membership sync (opt-in): each project's account is made under its chair's
    #: (the chair's under ``sync_root``), its PI and members made users of it.
    sync_accounts: bool = False
    sync_root: str = Field(default="root", min_length=1)
    #: Whether sync removes users no longer members (else the removals are listed, skipped).
    sync_removals: bool = False
    sacctmgr: str = "sacctmgr"


class WebhookConfig(BaseModel):
    """A webhook that notifications are posted to (a team's Mattermost or Slack channel, or any
    receiver of the generic JSON, signed with ``secret``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = Field(pattern=r"^https?://")
    #: ``json`` (generic, HMAC-signed when ``secret`` is set) or ``slack`` (Mattermost/Slack
    #: incoming webhook: ``{"text": ...}``)
    format: str = Field(default="json", pattern="^(json|slack)$")
    secret: SecretStr = SecretStr("")
    #: event kinds posted (``usage.100``, ``ingestion.stale``...); empty: every kind
    kinds: list[str] = Field(default_factory=list)
    language: str = Field(default="en", pattern="^(en|fr)$")


class ClaimRule(BaseModel):
    """A claim's value that gives a role: ``{"claim": "groups", "value": "hpc-admins",
    "role": "admin"}`` (the claim may be a string or a list of strings)."""

    model_config = ConfigDict(extra="forbid")

    claim: str = Field(default="groups", min_length=1)
    value: str = Field(min_length=1)
    role: str = Field(pattern="^(engineer|admin)$")


class ProjectRule(BaseModel):
    """A claim's value that makes someone a member of a project at sign-in: ``{"claim":
    "groups", "value": "hpc-llm", "project": "llm-2026"}``. Memberships are only added (audited
    ``project.member_added`` by ``oidc:<provider>``); removing someone stays the PI's or an
    administrator's."""

    model_config = ConfigDict(extra="forbid")

    claim: str = Field(default="groups", min_length=1)
    value: str = Field(min_length=1)
    project: str = Field(min_length=1, max_length=64)


class OidcProviderConfig(BaseModel):
    """An OpenID Connect provider the portal signs people in with (and whose JWTs the API
    accepts as bearer tokens). See README, "Signing in with the university's account"."""

    model_config = ConfigDict(extra="forbid")

    #: Short name, in the portal's URLs (``/portal/signin/oidc/<name>``).
    name: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    #: Shown on the sign-in page (``Université de Lorraine``); default: the name.
    label: str = ""
    #: The issuer URL; its ``/.well-known/openid-configuration`` is read at first use.
    issuer: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    #: A file holding the client secret (a mounted secret); none: a public client (PKCE only).
    client_secret_file: Path | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    #: Claims giving engineer or admin; anyone else is a researcher.
    role_rules: list[ClaimRule] = Field(default_factory=list)
    #: Claims making someone a member of a project (added at each portal sign-in).
    project_rules: list[ProjectRule] = Field(default_factory=list)
    #: The ``aud`` the API's bearer JWTs must carry; empty: the client id.
    api_audience: str = ""
    #: Seconds of clock difference tolerated on ``exp``, ``iat`` and ``nbf``.
    leeway_seconds: int = Field(default=60, ge=0, le=600)
    #: Seconds to wait for the provider (discovery, keys, the code exchange).
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    def client_secret(self) -> str:
        if self.client_secret_file is None:
            return ""
        return self.client_secret_file.read_text().strip()


def default_data_dir() -> Path:
    return Path.cwd() / "data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GPUHOURS_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    period_scheme: PeriodScheme = PeriodScheme.QUARTER
    #: The site's time zone (IANA name): periods and days begin at its midnight.
    time_zone: str = "UTC"
    host: str = "127.0.0.1"
    port: int = 8000
    demo: bool = False
    #: Seed admin token for demo mode only; outside demo mode there is no default secret.
    demo_admin_token: str = ""
    scheduler: bool = True
    #: Days a newly minted API token is valid when no expiry is given (CLI ``--expires``, API
    #: ``expires_at`` or ``expires_in_days``).
    token_days: int = Field(default=90, ge=1, le=3650)
    #: Refused credentials from one client address before it gets 429 for the rest of the
    #: window (``auth_window_seconds``); per API process.
    auth_failures: int = Field(default=10, ge=1, le=10_000)
    auth_window_seconds: float = Field(default=60.0, gt=0, le=86_400)
    #: The portal's sessions end after this many minutes without a request...
    portal_idle_minutes: int = Field(default=60, ge=1, le=24 * 60)
    #: ... and this many hours after sign-in, however active.
    portal_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    #: Seconds between two tries of a standby replica to become the scheduler leader; the
    #: leader checks its lock connection as often.
    leader_retry_seconds: float = Field(default=5.0, gt=0)
    #: Minutes between two refreshes of running jobs' provisional charges, per cluster (a
    #: fetch of the jobs running now that never moves the watermark).
    accrual_minutes: float = Field(default=15.0, gt=0)
    #: Days before a period's end when the reminder is written (audit event + log).
    remind_days: int = Field(default=14, ge=0, le=366)
    #: Close a period this many days after its end when its reconciliation has no unresolved
    #: line; ``None`` (default): administrators close periods themselves.
    auto_close_days: int | None = Field(default=None, ge=0, le=366)
    log_level: str = "info"
    #: ``gpuhours worker`` serves ``/metrics`` on ``host:metrics_port`` when set (``serve``
    #: serves it on its API port).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    #: Seconds a database collection of ``/metrics`` is reused by later scrapes (0: none).
    metrics_cache_seconds: float = Field(default=5.0, ge=0)
    #: Clusters as JSON (``GPUHOURS_CLUSTERS='[{"name": ...}]'``) or from a JSON file.
    clusters: list[ClusterConfig] = Field(default_factory=list)
    clusters_file: Path | None = None
    #: The portal's public base URL: the links in notifications start with it.
    public_url: str = "http://127.0.0.1:8000"
    #: Language of messages for users who chose none (``en`` or ``fr``).
    notify_language: str = Field(default="en", pattern="^(en|fr)$")
    #: SMTP relay for e-mail notifications; empty: no e-mail is sent (they wait in the outbox).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    #: ``starttls`` (port 587), ``tls`` (implicit TLS, port 465) or ``none`` (a local relay)
    smtp_security: str = Field(default="starttls", pattern="^(starttls|tls|none)$")
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    #: CA bundle to verify the relay's certificate (default: the system's)
    smtp_ca_file: Path | None = None
    smtp_timeout_seconds: float = Field(default=15.0, gt=0)
    mail_from: str = "gpuhours <gpuhours@localhost>"
    mail_reply_to: str = ""
    #: OpenID Connect providers as JSON (``GPUHOURS_OIDC_PROVIDERS='[{"name": "unistra",
    #: "issuer": ..., "client_id": ...}]'``) or from a JSON file.
    oidc_providers: list[OidcProviderConfig] = Field(default_factory=list)
    oidc_providers_file: Path | None = None
    #: Webhooks as JSON (``GPUHOURS_WEBHOOKS='[{"name": "hpc", "url": ...}]'``).
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    #: Seconds between two deliveries of the outbox (leader only).
    notify_interval_seconds: int = Field(default=30, ge=1)
    #: Minutes between two runs of the detector (thresholds, forecasts, period ends...).
    notify_detect_minutes: float = Field(default=10.0, gt=0)
    #: Tries of a delivery before it is parked; the wait doubles from ``notify_backoff_seconds``
    #: (capped at 6 hours).
    notify_max_attempts: int = Field(default=8, ge=1, le=100)
    notify_backoff_seconds: float = Field(default=60.0, gt=0)
    #: Local hour (site's time zone) after which the daily digest is sent.
    notify_digest_hour: int = Field(default=7, ge=0, le=23)
    #: Seconds without a successful ingestion before engineers are told a cluster is stale.
    notify_stale_seconds: int = Field(default=3 * 3600, ge=60)

    @property
    def notifications(self) -> bool:
        """Is any channel configured (then the scheduler delivers the outbox)?"""
        return bool(self.smtp_host or self.webhooks)

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'gpuhours.db'}"
        if self.clusters_file is not None and not self.clusters:
            data = json.loads(self.clusters_file.read_text())
            self.clusters = [ClusterConfig.model_validate(item) for item in data]
        if self.oidc_providers_file is not None and not self.oidc_providers:
            data = json.loads(self.oidc_providers_file.read_text())
            self.oidc_providers = [OidcProviderConfig.model_validate(item) for item in data]
        if len({p.name for p in self.oidc_providers}) != len(self.oidc_providers):
            raise ValueError("oidc_providers: a provider name appears twice")
        if len({w.name for w in self.webhooks}) != len(self.webhooks):
            raise ValueError("webhooks: a webhook name appears twice")
        names = [c.name for c in self.clusters]
        if len(names) != len(set(names)):
            raise ValueError("clusters: a cluster name appears twice")
        try:
            self.calendar  # noqa: B018 (validates the time zone once, at start)
        except InvalidInput as exc:
            raise ValueError(f"time_zone: {exc.reason}") from exc
        if self.demo_admin_token and not self.demo:
            raise ValueError("GPUHOURS_DEMO_ADMIN_TOKEN is only allowed with GPUHOURS_DEMO=1")
        return self

    @property
    def calendar(self) -> Calendar:
        """The site's periods and days (scheme and time zone), built from these settings."""
        return Calendar(self.period_scheme, self.time_zone)

    def cluster_names(self) -> list[str]:
        """The configured clusters' names (a Slurm account mapping may name one of them, or a
        cluster a pool's route names)."""
        return [c.name for c in self.clusters]

    def cluster(self, name: str) -> ClusterConfig:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        known = ", ".join(c.name for c in self.clusters) or "none configured"
        raise ValueError(f"cluster: unknown cluster {name!r} (known: {known})")
