"""Slurm's accounting as enforcement reads and writes it: ``sacctmgr`` on the host.

Reads are one ``sacctmgr show assoc`` for every managed account and one ``show qos``
(``--parsable2 --noheader``, the stable text of every Slurm since 17.x); writes run the exact
command a :class:`~allocator.enforcement.Change` names (what ``diagnose`` prints). A failure
(non-zero exit, slurmdbd down, a time-out, no ``sacctmgr``) is a
:class:`~allocator.errors.SlurmCommandFailed` with sacctmgr's first line.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from allocator.enforcement import BILLING, ActualAccount, Change, SlurmState
from allocator.errors import SlurmCommandFailed

Runner = Callable[..., "subprocess.CompletedProcess[str]"]
ASSOC_FORMAT = "Cluster,Account,User,GrpTRESMins,QOS,DefaultQOS,ParentName"


def parse_tres(text: str) -> dict[str, int]:
    """``billing=750000,gres/gpu=60`` -> ``{"billing": 750000, "gres/gpu": 60}``."""
    out: dict[str, int] = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if value.isdigit():
            out[name] = int(value)
    return out


def parse_associations(text: str, cluster: str) -> dict[str, ActualAccount]:
    """The account associations of ``sacctmgr -nP show assoc format=ASSOC_FORMAT``, each with
    its parent (when the format has it) and the users of its user associations."""
    out: dict[str, ActualAccount] = {}
    users: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) < 6 or cells[0] != cluster:
            continue
        if cells[2]:
            users.setdefault(cells[1], []).append(cells[2])
            continue
        limit = parse_tres(cells[3]).get(BILLING)
        qos = tuple(sorted(filter(None, cells[4].split(","))))
        parent = cells[6] if len(cells) > 6 else ""
        out[cells[1]] = ActualAccount(cluster, cells[1], limit, qos, cells[5], parent=parent)
    return {a: replace(v, users=tuple(sorted(users.get(a, ())))) for a, v in out.items()}


_ACCOUNT_ROW = re.compile(r"(?:^|\s)Account=(\S+) UserName= ")
_USED = re.compile(r"GrpTRESMins=(?:\S*,)?billing=[^(,\s]*\((\d+)\)")


def parse_assoc_mgr(text: str) -> dict[str, int]:
    """Slurm's usage counters (billing-minutes) of the account associations in
    ``scontrol -o show assoc_mgr flags=assoc``: ``GrpTRESMins=...,billing=LIMIT(USED),...``."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        account, used = _ACCOUNT_ROW.search(line), _USED.search(line)
        if account and used:
            out[account.group(1)] = int(used.group(1))
    return out


@dataclass
class Sacctmgr:
    """:class:`allocator.ports.SlurmAssociations` through ``sacctmgr`` on this host."""

    sacctmgr: str = "sacctmgr"
    #: reads Slurm's usage counters (slurmctld); its failure only leaves them unknown
    scontrol: str = "scontrol"
    timeout: float = 60.0
    runner: Runner = field(default=subprocess.run)

    def read(self, cluster: str, accounts: Sequence[str]) -> SlurmState:
        found: dict[str, ActualAccount] = {}
        if accounts:
            text = self._run(
                "-nP", "show", "assoc", "where", f"cluster={cluster}",
                f"account={','.join(accounts)}", f"format={ASSOC_FORMAT}",
            )  # fmt: skip
            found = parse_associations(text, cluster)
            used = self._usage(accounts)
            found = {a: replace(v, used_minutes=used.get(a)) for a, v in found.items()}
        qos = self._run("-nP", "show", "qos", "format=Name")
        return SlurmState(found, frozenset(filter(None, qos.split())))

    def write(self, change: Change) -> None:
        command = change.command
        if not command:
            raise SlurmCommandFailed(f"no sacctmgr command makes {change.attribute.value}")
        self._run(*command[1:])

    def _usage(self, accounts: Sequence[str]) -> dict[str, int]:
        try:
            text = self._run(
                "-o", "show", "assoc_mgr", f"accounts={','.join(accounts)}", "flags=assoc",
                binary=self.scontrol,
            )  # fmt: skip
        except SlurmCommandFailed:
            return {}
        return parse_assoc_mgr(text)

    def _run(self, *args: str, binary: str = "") -> str:
        argv = [binary or self.sacctmgr, *args]
        try:
            done = self.runner(argv, capture_output=True, text=True, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SlurmCommandFailed(f"{argv[0]}: {exc}") from exc
        if done.returncode != 0 and "Nothing modified" not in done.stdout + done.stderr:
            said = (done.stderr or done.stdout or "").strip().splitlines()
            first = said[0] if said else f"exit code {done.returncode}"
            raise SlurmCommandFailed(f"{' '.join(argv[:4])}: {first}")
        return done.stdout
