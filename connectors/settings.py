"""Settings, read once at the composition root (``GPUHOURS_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from allocator.periods import PeriodScheme


def default_data_dir() -> Path:
    return Path.cwd() / "data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GPUHOURS_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    period_scheme: PeriodScheme = PeriodScheme.QUARTER
    host: str = "127.0.0.1"
    port: int = 8000
    demo: bool = False
    #: Seed admin token for demo mode only; outside demo mode there is no default secret.
    demo_admin_token: str = ""
    scheduler: bool = True
    log_level: str = "info"

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'gpuhours.db'}"
        if self.demo_admin_token and not self.demo:
            raise ValueError("GPUHOURS_DEMO_ADMIN_TOKEN is only allowed with GPUHOURS_DEMO=1")
        return self
