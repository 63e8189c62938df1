"""The HTTP API (FastAPI) under ``/api/v1``, plus ``/healthz`` and ``/readyz``."""
