"""Tests of the Slurm connector (connectors/slurm)."""
