"""Slurm usage source: slurmrestd client, sacct fallback and the normaliser to UsageRecord."""

from connectors.slurm.auth import EnvToken, FileToken, MintedToken, StaticToken, TokenProvider
from connectors.slurm.client import JobsPage, SlurmRestClient
from connectors.slurm.decode import DecodedJobs, Quarantined, decode_jobs
from connectors.slurm.errors import (
    SlurmAuthError,
    SlurmError,
    SlurmPayloadError,
    SlurmRejected,
    SlurmUnavailable,
)
from connectors.slurm.sacct import SACCT_FIELDS, parse_sacct_file, run_sacct

__all__ = [
    "SACCT_FIELDS",
    "DecodedJobs",
    "EnvToken",
    "FileToken",
    "JobsPage",
    "MintedToken",
    "Quarantined",
    "SlurmAuthError",
    "SlurmError",
    "SlurmPayloadError",
    "SlurmRejected",
    "SlurmRestClient",
    "SlurmUnavailable",
    "StaticToken",
    "TokenProvider",
    "decode_jobs",
    "parse_sacct_file",
    "run_sacct",
]
