"""The ``gpuhours`` command line. Every failure: exit code != 0 and one line saying why.

A package, one module per command group; ``main`` gathers them. The CLI parses its own
options and prints the domain's values itself (``render``, ``output``): it imports no other
face. Every command that prints data takes ``-o table|json|csv`` (``output``).
"""

from __future__ import annotations

from collections.abc import Iterator

import click

from connectors.cli import allocations, organisation, quarter, requests, service, tokens, usage
from connectors.cli._common import OneLineGroup
from connectors.cli.output import output_option

__all__ = ["main"]

# Commands that print text, not data: no -o (``report`` has its own --format and --output).
TEXT_COMMANDS = frozenset({"migrate", "demo", "serve", "worker", "token create", "report", "close"})


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """gpuhours: GPU-hours allocation and job accounting for ENACT."""


def _leaves(group: click.Group, path: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        full = f"{path} {name}".strip()
        if isinstance(command, click.Group):
            yield from _leaves(command, full)
        else:
            yield full, command


for _module in (service, tokens, organisation, allocations, requests, usage, quarter):
    for _command in _module.COMMANDS:
        main.add_command(_command)

main.params.append(output_option())
for _path, _leaf in _leaves(main):
    if _path not in TEXT_COMMANDS:
        _leaf.params.append(output_option())
