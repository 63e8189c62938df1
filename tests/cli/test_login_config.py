"""How the CLI chooses between the local database and a server, without a server: the
environment and the login file, and every way they can be wrong, each one line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from connectors.cli import config, main
from tests.cli.test_cli import Cli, empty, one_error_line
from tests.scheduler.test_serve import free_port

__all__ = ["empty"]  # fixture


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def login_file(server: str, token: str = "gph_x") -> Path:
    return config.save(server, token, "alice")


def test_the_login_file_is_private_and_replaced_whole() -> None:
    path = login_file("http://127.0.0.1:1")
    assert path == Path(os.environ["XDG_CONFIG_HOME"]) / "gpuhours" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    login_file("https://gpuhours.example", "gph_y")
    assert json.loads(path.read_text())["token"] == "gph_y"
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temporary left


def test_a_server_without_a_token_in_the_environment_is_one_line() -> None:
    line = one_error_line(run("pools", "list", env={"GPUHOURS_SERVER": "http://127.0.0.1:1"}))
    assert line == (
        "gpuhours: error: GPUHOURS_TOKEN: set both GPUHOURS_SERVER and GPUHOURS_TOKEN, or neither"
    )


def test_an_unreachable_server_is_one_line_and_exit_1() -> None:
    server = f"http://127.0.0.1:{free_port()}"
    result = run("pools", "list", env={"GPUHOURS_SERVER": server, "GPUHOURS_TOKEN": "gph_x"})
    line = one_error_line(result)
    assert result.exit_code == 1
    assert line.startswith(f"gpuhours: error: server: cannot reach {server}: ")


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://host", "http://", "http://a b"])
def test_login_refuses_a_server_that_is_not_an_http_url(url: str) -> None:
    result = CliRunner().invoke(main, ["login", "--server", url], input="gph_x\n")
    line = one_error_line(result)
    assert line.startswith("gpuhours: error: server: ") and "http" in line
    assert not config.config_file().exists()


def test_a_broken_login_file_is_one_line_naming_it() -> None:
    path = config.config_file()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    line = one_error_line(run("chairs", "list"))
    assert f"config: {path} is not a gpuhours login file" in line


def test_local_commands_on_a_logged_in_machine_need_local(empty: Cli) -> None:
    login_file(f"http://127.0.0.1:{free_port()}")
    line = one_error_line(empty("ingest", "--cluster", "enact-dev"))
    assert "works on the database only" in line and "gpuhours --local" in line
    for command in (("chairs", "list"), ("statements", "list"), ("clusters", "status")):
        assert one_error_line(empty(*command)).startswith("gpuhours: error: server: ")
    assert empty.ok("--local", "chairs", "list", "-o", "json") == "[]\n"
    assert empty.ok("--local", "migrate") == "database at head\n"
    assert empty.ok("migrate") == "database at head\n"  # running the service is always local


def test_logout_forgets_the_login_and_says_so_when_there_was_none() -> None:
    path = login_file("http://127.0.0.1:1")
    result = run("logout")
    assert result.exit_code == 0 and result.stdout == f"logged out (removed {path})\n"
    assert not path.exists()
    assert run("logout").stdout == "not logged in\n"


def test_whoami_on_the_server_host_is_the_local_administrator(empty: Cli) -> None:
    me = empty.json("whoami")
    assert me["role"] == "admin" and me["username"].startswith("cli:") and me["server"] is None


def test_a_remote_command_loads_no_database_code() -> None:
    """The laptop's CLI starts fast: talking to a server never imports the database side
    (SQLAlchemy, Alembic), the server (FastAPI, uvicorn), the portal or the metrics."""
    heavy = {"sqlalchemy", "alembic", "fastapi", "uvicorn", "jinja2", "prometheus_client"}
    program = (
        "import runpy, sys\n"
        "sys.argv = ['gpuhours', 'pools', 'list']\n"
        "try:\n"
        "    runpy.run_module('connectors.cli', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(set({sorted(heavy)!r}) & set(sys.modules)))\n"
    )
    server = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "GPUHOURS_SERVER": server, "GPUHOURS_TOKEN": "gph_x"}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert f"cannot reach {server}" in done.stderr  # it did try the server
    assert done.stdout.strip() == "[]"
