"""What the deployment tests share: paths, the settings' variable names, the CLI, parsers."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from connectors.cli import main as cli_main
from connectors.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
SYSTEMD_DIR = DEPLOY / "systemd"
K8S_DIR = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"

#: Local, git-ignored files of an operator (secrets, .env...), never read by the tests.
LOCAL_FILES = {COMPOSE_DIR / ".env", COMPOSE_DIR / "clusters.json"}
#: The files this part of the deployment owns (deploy/slurm and deploy/dev.sh are not ours).
OWN_FILES = sorted(
    [DOCKERFILE, DEPLOY / "Dockerfile.dockerignore", DEPLOY / "README.md"]
    + [
        p
        for d in (COMPOSE_DIR, SYSTEMD_DIR, K8S_DIR)
        for p in d.rglob("*")
        if p.is_file()
        and p not in LOCAL_FILES
        and (p.parent != COMPOSE_DIR / "secrets" or p.name == ".gitignore")
    ]
)

#: The one port of the API, everywhere (Settings' default too).
API_PORT = 8000
#: The port of the worker's /metrics (GPUHOURS_METRICS_PORT), everywhere.
WORKER_METRICS_PORT = 9100
#: The image's fixed non-root uid/gid.
IMAGE_UID = 10001

ENV_NAME = re.compile(r"\bGPUHOURS_[A-Z0-9_]+\b")


def settings_env_names() -> set[str]:
    """``GPUHOURS_<FIELD>`` for every field of :class:`Settings` (no aliases are declared)."""
    prefix = Settings.model_config.get("env_prefix", "")
    assert prefix == "GPUHOURS_"
    for name, info in Settings.model_fields.items():
        assert info.alias is None and info.validation_alias is None, name
    return {prefix + name.upper() for name in Settings.model_fields}


def settings_from(env: Mapping[str, str], monkeypatch: Any) -> Settings:
    """Settings built from exactly ``env`` (every other GPUHOURS_* variable removed)."""
    import os

    for name in list(os.environ):
        if name.startswith("GPUHOURS_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def check_cli(args: Sequence[str]) -> click.Command:
    """Parse ``gpuhours ARGS`` as the CLI would (without running it); raise if it is wrong."""
    command: click.Command = cli_main
    rest = list(args)
    path = ["gpuhours"]
    while isinstance(command, click.Group):
        if not rest:
            raise click.UsageError(f"{' '.join(path)}: a subcommand is missing")
        name, rest = rest[0], rest[1:]
        sub = command.get_command(click.Context(command), name)
        if sub is None:
            raise click.UsageError(f"{' '.join(path)}: no such command {name!r}")
        command, path = sub, [*path, name]
    command.make_context(" ".join(path), rest)  # raises NoSuchOption, BadParameter...
    return command


_INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


def interpolate(value: str, env: Mapping[str, str] | None = None) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` (required: ``<VAR>``)."""
    env = env or {}

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            return f"<{name}>"
        return ""

    return _INTERPOLATION.sub(one, value)


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# --- systemd unit files --------------------------------------------------------------------


@dataclass
class Unit:
    """A unit file: section -> key -> every value in order (keys may repeat)."""

    path: Path
    sections: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def values(self, section: str, key: str) -> list[str]:
        return self.sections.get(section, {}).get(key, [])

    def one(self, section: str, key: str) -> str:
        values = self.values(section, key)
        assert len(values) == 1, f"{self.path.name}: [{section}] {key}= appears {len(values)}x"
        return values[0]

    def words(self, section: str, key: str) -> set[str]:
        return {word for value in self.values(section, key) for word in value.split()}


def parse_unit(path: Path) -> Unit:
    """A strict reading of systemd's unit syntax: sections, ``Key=value``, comments, ``\\``."""
    unit = Unit(path)
    section: str | None = None
    pending = ""
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            assert line.endswith("]"), f"{path.name}:{number}: bad section header {line!r}"
            section = line[1:-1]
            unit.sections.setdefault(section, {})
            continue
        assert section is not None, f"{path.name}:{number}: a key outside any section"
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()), (
            f"{path.name}:{number}: not a Key=value line: {line!r}"
        )
        unit.sections[section].setdefault(key.strip(), []).append(value.strip())
    assert not pending, f"{path.name}: ends with a continuation"
    return unit


def parse_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines (systemd EnvironmentFile / docker env-file syntax, no quoting)."""
    env: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"{path.name}:{number}: {line!r}"
        assert key not in env, f"{path.name}:{number}: {key} set twice"
        env[key] = value
    return env


def exec_start_args(unit: Unit) -> list[str]:
    """The ``gpuhours`` arguments of the unit's ExecStart (the binary checked by the caller)."""
    words = shlex.split(unit.one("Service", "ExecStart"))
    assert words[0].lstrip("-@:+!") == words[0], "no ExecStart prefixes expected"
    return words[1:]


# --- Dockerfile ----------------------------------------------------------------------------

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


@dataclass(frozen=True)
class Instruction:
    name: str
    value: str
    line: int


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined, comments and parser directives dropped."""
    out: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # (Docker skips empty and comment lines inside continuations too)
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1].rstrip() + " "
            continue
        buffer += stripped
        name, _, value = buffer.partition(" ")
        assert name.upper() == name and name in INSTRUCTIONS, f"line {start}: {name!r}"
        out.append(Instruction(name, value.strip(), start))
        buffer = ""
    assert not buffer, "the Dockerfile ends with a continuation"
    return out


def exec_form(value: str) -> list[str]:
    """A JSON (exec form) argument list; shell form is refused."""
    words = json.loads(value)
    assert isinstance(words, list) and all(isinstance(w, str) for w in words), value
    return words


def flags_and_rest(value: str) -> tuple[dict[str, str], str]:
    """``--flag=value ... REST`` of HEALTHCHECK, COPY..."""
    flags: dict[str, str] = {}
    rest = value.strip()
    while match := re.match(r"--([a-z-]+)=(\S*)\s+", rest):
        flags[match[1]] = match[2]
        rest = rest[match.end() :]
    return flags, rest


def docker_env(instructions: Iterable[Instruction]) -> dict[str, str]:
    """ENV of the last stage (``ENV A=1 B=2`` form)."""
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.name == "FROM":
            env = {}
        elif instruction.name == "ENV":
            for word in shlex.split(instruction.value):
                key, sep, value = word.partition("=")
                assert sep, f"line {instruction.line}: use ENV KEY=value"
                env[key] = value
    return env


def last_stage(instructions: list[Instruction]) -> list[Instruction]:
    starts = [i for i, ins in enumerate(instructions) if ins.name == "FROM"]
    return instructions[starts[-1] :]
