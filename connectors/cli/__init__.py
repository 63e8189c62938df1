"""The ``gpuhours`` command line. Every failure: exit code != 0 and one line saying why.

A package, one module per command group; ``main`` gathers them. The CLI parses its own
options and prints the domain's values itself (``render``): it imports no other face.
"""

from __future__ import annotations

import click

from connectors.cli import allocations, organisation, quarter, requests, service, tokens, usage
from connectors.cli._common import OneLineGroup

__all__ = ["main"]


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """gpuhours: GPU-hours allocation and job accounting for ENACT."""


for _module in (service, tokens, organisation, allocations, requests, usage, quarter):
    for _command in _module.COMMANDS:
        main.add_command(_command)
