"""deploy/Dockerfile, read statically (no container engine here), and its health check run."""

from __future__ import annotations

import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.deploy.helpers import (
    API_PORT,
    DEPLOY,
    DOCKERFILE,
    IMAGE_UID,
    ROOT,
    Instruction,
    check_cli,
    docker_env,
    exec_form,
    flags_and_rest,
    last_stage,
    parse_dockerfile,
    settings_env_names,
)


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE)


def only(instructions: list[Instruction], name: str) -> Instruction:
    found = [i for i in instructions if i.name == name]
    assert len(found) == 1, f"{name}: {len(found)} instructions"
    return found[0]


def test_every_stage_is_python_311_slim(instructions: list[Instruction]) -> None:
    bases = [i.value.split()[0] for i in instructions if i.name == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases


def test_the_image_runs_as_the_fixed_non_root_user(instructions: list[Instruction]) -> None:
    final = last_stage(instructions)
    user = only(final, "USER").value
    assert user == f"{IMAGE_UID}:{IMAGE_UID}"
    # ...and that user exists in the image, with that uid and gid.
    runs = " ".join(i.value for i in final if i.name == "RUN")
    assert f"groupadd --system --gid {IMAGE_UID} gpuhours" in runs
    assert f"useradd --system --uid {IMAGE_UID} --gid gpuhours" in runs


def test_entrypoint_is_the_projects_console_script(instructions: list[Instruction]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert exec_form(only(instructions, "ENTRYPOINT").value) == ["gpuhours"]
    assert scripts["gpuhours"] == "connectors.cli:main"


def test_default_command_is_the_api_without_scheduler(instructions: list[Instruction]) -> None:
    args = exec_form(only(instructions, "CMD").value)
    assert args == ["serve", "--no-scheduler"]
    assert check_cli(args).name == "serve"


def test_port_and_listen_address(instructions: list[Instruction]) -> None:
    env = docker_env(instructions)
    assert only(instructions, "EXPOSE").value == str(API_PORT)
    assert env["GPUHOURS_PORT"] == str(API_PORT)
    assert env["GPUHOURS_HOST"] == "0.0.0.0"  # reachable from outside the container
    assert {k for k in env if k.startswith("GPUHOURS_")} <= settings_env_names()


def test_copies_what_the_wheel_needs_and_the_dockerignore_lets_it_in(
    instructions: list[Instruction],
) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    needed |= set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    copied: set[str] = set()
    for instruction in instructions:
        if instruction.name == "COPY":
            flags, rest = flags_and_rest(instruction.value)
            if "from" in flags:
                continue
            *sources, _target = rest.split()
            copied |= set(sources)
    assert copied == needed
    for source in copied:
        assert (ROOT / source).exists(), source
    # The allow-list: everything excluded, then exactly what is copied let back in.
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {line[1:] for line in lines if line.startswith("!")} == needed


class _Stub(BaseHTTPRequestHandler):
    status: ClassVar[int] = 200
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        self.send_response(type(self).status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def stub_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_healthcheck(command: list[str], port: int) -> int:
    assert command[0] == "python"  # the image's python; here, the test interpreter
    done = subprocess.run(
        [sys.executable, *command[1:]],
        env={"GPUHOURS_PORT": str(port), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=30,
    )
    return done.returncode


def test_healthcheck_asks_healthz_and_fails_when_it_does_not_answer_200(
    instructions: list[Instruction],
) -> None:
    flags, rest = flags_and_rest(only(instructions, "HEALTHCHECK").value)
    assert {"interval", "timeout", "start-period", "retries"} <= flags.keys()
    assert rest.startswith("CMD ")
    command = exec_form(rest[len("CMD ") :])
    _Stub.seen = []
    with stub_server() as port:
        _Stub.status = 200
        assert run_healthcheck(command, port) == 0
        _Stub.status = 503
        assert run_healthcheck(command, port) != 0
    assert _Stub.seen == ["/healthz", "/healthz"]
    assert run_healthcheck(command, port) != 0  # nothing listens any more
