"""Every edge of gpuhours: database, Slurm, HTTP API, CLI, scheduler, metrics, settings."""
