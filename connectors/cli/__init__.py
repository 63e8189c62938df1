"""The ``gpuhours`` command line. Every failure: exit code != 0 and one line saying why.

A package, one module per command group; ``main`` gathers them. The CLI parses its own
options and prints the domain's values itself (``render``, ``output``): it imports no other
face. Every command that prints data takes ``-o table|json|csv`` (``output``).
"""

from __future__ import annotations

from collections.abc import Iterator

import click

from connectors.cli import (
    allocations,
    enforce,
    lending,
    notify,
    organisation,
    quarter,
    requests,
    rounds,
    service,
    session,
    tokens,
    usage,
)
from connectors.cli._common import LOCAL_KEY, OneLineGroup
from connectors.cli.output import output_option

__all__ = ["main"]

# Commands that print text, not data: no -o (``report`` has its own --format and --output).
TEXT_COMMANDS = frozenset(
    {"migrate", "demo", "serve", "worker", "token create", "report", "close", "login", "logout"}
)


def _remember_local(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[LOCAL_KEY] = True


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--local",
    is_flag=True,
    expose_value=False,
    callback=_remember_local,
    help="Act on this host's database even when logged in to a server.",
)
def main() -> None:
    """gpuhours: GPU-hours allocation and job accounting for ENACT.

    On the server host, commands act on the database as the administrator cli:<login>. From
    any other machine, `gpuhours login --server URL` once; commands then go through the API
    with your token, as you (GPUHOURS_SERVER and GPUHOURS_TOKEN do the same for scripts)."""


def _leaves(group: click.Group, path: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        full = f"{path} {name}".strip()
        if isinstance(command, click.Group):
            yield from _leaves(command, full)
        else:
            yield full, command


_MODULES = (
    service,
    session,
    tokens,
    organisation,
    allocations,
    requests,
    rounds,
    lending,
    usage,
    quarter,
    notify,
    enforce,
)
for _module in _MODULES:
    for _command in _module.COMMANDS:
        main.add_command(_command)

main.params.append(output_option())
for _path, _leaf in _leaves(main):
    if _path not in TEXT_COMMANDS:
        _leaf.params.append(output_option())
