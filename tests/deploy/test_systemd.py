"""deploy/systemd: the units read strictly here, then ``systemd-analyze verify`` and
``systemd-analyze security --offline`` on a scratch root (skipped, with the reason, where
``systemd-analyze`` is absent; the reading and the checks of this file still run)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.deploy.helpers import (
    API_PORT,
    SYSTEMD_DIR,
    WORKER_METRICS_PORT,
    Unit,
    check_cli,
    exec_start_args,
    parse_env_file,
    parse_unit,
    settings_env_names,
    settings_from,
)

UNITS = ("gpuhours-migrate.service", "gpuhours-api.service", "gpuhours-worker.service")
BINARY = "/opt/gpuhours/bin/gpuhours"
ENV_FILE = "/etc/gpuhours/gpuhours.env"
DROP_IN = SYSTEMD_DIR / "gpuhours-worker.service.d" / "slurm-jwt.conf"
COMMANDS = {
    "gpuhours-migrate.service": ["migrate"],
    "gpuhours-api.service": ["serve", "--no-scheduler"],
    "gpuhours-worker.service": ["worker"],
}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "",
    "StateDirectory": "gpuhours",
}
ANALYZE = shutil.which("systemd-analyze")
NO_ANALYZE = "systemd-analyze is not installed here: only the static checks of this file ran"
#: systemd-analyze security's overall exposure, in tenths (its --threshold scale): 2.0 of 10.
EXPOSURE_THRESHOLD = 20


@pytest.fixture(scope="module")
def units() -> dict[str, Unit]:
    return {name: parse_unit(SYSTEMD_DIR / name) for name in UNITS}


def test_the_unit_files_are_the_three_expected(units: dict[str, Unit]) -> None:
    assert sorted(p.name for p in SYSTEMD_DIR.glob("*.service")) == sorted(UNITS)
    for unit in units.values():
        assert set(unit.sections) <= {"Unit", "Service", "Install"}
        unit.one("Unit", "Description")


def test_commands_are_real_cli_commands(units: dict[str, Unit]) -> None:
    for name, unit in units.items():
        assert unit.one("Service", "ExecStart").split()[0] == BINARY, name
        args = exec_start_args(unit)
        assert args == COMMANDS[name], name
        check_cli(args)


def test_migrate_is_a_oneshot_ordered_before_and_required_by_the_others(
    units: dict[str, Unit],
) -> None:
    migrate = units["gpuhours-migrate.service"]
    assert migrate.one("Service", "Type") == "oneshot"
    assert migrate.one("Service", "RemainAfterExit") == "yes"
    assert "Install" not in migrate.sections  # pulled in by the others, never enabled alone
    for name in ("gpuhours-api.service", "gpuhours-worker.service"):
        unit = units[name]
        assert "gpuhours-migrate.service" in unit.words("Unit", "Requires"), name
        assert "gpuhours-migrate.service" in unit.words("Unit", "After"), name
        assert unit.one("Service", "Restart") == "on-failure", name
        assert unit.words("Install", "WantedBy") == {"multi-user.target"}, name
    for unit in units.values():
        assert {"network-online.target", "postgresql.service"} <= unit.words("Unit", "After")
        assert "network-online.target" in unit.words("Unit", "Wants")


def test_hardening_and_the_service_user(units: dict[str, Unit]) -> None:
    sysusers = (SYSTEMD_DIR / "gpuhours.sysusers.conf").read_text().splitlines()
    (user_line,) = [line for line in sysusers if line.startswith("u ")]
    user = user_line.split()[1]
    for name, unit in units.items():
        assert unit.one("Service", "User") == user, name
        assert unit.one("Service", "Group") == user, name
        for key, value in HARDENING.items():
            assert unit.one("Service", key) == value, (name, key)
        state = f"/var/lib/{unit.one('Service', 'StateDirectory')}"
        assert unit.one("Service", "WorkingDirectory") == state
        assert unit.one("Service", "Environment") == f"GPUHOURS_DATA_DIR={state}"
        assert user_line.split()[-1] == state  # the user's home is the state directory


def test_environment_file_example_holds_settings_that_parse(
    units: dict[str, Unit], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for unit in units.values():
        assert unit.one("Service", "EnvironmentFile") == ENV_FILE
    example = SYSTEMD_DIR / (Path(ENV_FILE).name + ".example")
    env = parse_env_file(example)
    assert set(env) <= settings_env_names()
    assert ENV_FILE in example.read_text().splitlines()[0]
    # The clusters file is site-specific: an empty one stands in for it here.
    (tmp_path / "clusters.json").write_text("[]")
    settings = settings_from(
        {**env, "GPUHOURS_CLUSTERS_FILE": str(tmp_path / "clusters.json")}, monkeypatch
    )
    assert settings.port == API_PORT
    # The worker's /metrics, local by default like the API (set GPUHOURS_HOST to widen both).
    assert settings.metrics_port == WORKER_METRICS_PORT
    assert settings.host == "127.0.0.1"
    url = make_url(settings.database_url)
    assert url.drivername == "postgresql+psycopg"
    assert url.password is None  # peer authentication over the socket: no password at all
    assert url.query["host"] == "/run/postgresql"


def test_the_slurm_key_is_a_credential_of_the_worker_only(units: dict[str, Unit]) -> None:
    drop_in = parse_unit(DROP_IN)
    (credential,) = drop_in.values("Service", "LoadCredential")
    ident, _, source = credential.partition(":")
    assert source.startswith("/etc/gpuhours/")
    # The path clusters.json must name, as the env example says.
    path = f"/run/credentials/gpuhours-worker.service/{ident}"
    assert path in (SYSTEMD_DIR / "gpuhours.env.example").read_text()
    assert path in DROP_IN.read_text()
    for unit in units.values():
        assert not unit.values("Service", "LoadCredential")  # only through the drop-in


@pytest.fixture
def scratch_root(tmp_path: Path) -> Path:
    """A root with the distribution's units, ours installed, and a stand-in executable."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    for directory in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if Path(directory).is_dir():
            shutil.copytree(directory, root / "usr/lib/systemd/system", symlinks=True)
            break
    for name in UNITS:
        shutil.copy(SYSTEMD_DIR / name, root / "etc/systemd/system" / name)
    shutil.copytree(
        DROP_IN.parent, root / "etc/systemd/system" / DROP_IN.parent.name, dirs_exist_ok=True
    )
    binary = root / BINARY.lstrip("/")
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    return root


def analyze(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, f"--root={root}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_COLORS": "0"},
        cwd=root,
    )


@pytest.mark.skipif(ANALYZE is None, reason=NO_ANALYZE)
def test_systemd_analyze_verify_is_silent(scratch_root: Path) -> None:
    """Unknown keys, bad values, missing units or executables: any line is a failure."""
    done = analyze(scratch_root, "verify", *UNITS)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.skipif(ANALYZE is None, reason=NO_ANALYZE)
@pytest.mark.parametrize(
    ("path", "good", "bad", "message"),
    [
        ("gpuhours-api.service", "ProtectSystem=", "ProtectSytem=", "Unknown key"),
        ("gpuhours-api.service", "Type=exec", "Type=exe", "Failed to parse service type"),
        (f"{DROP_IN.parent.name}/{DROP_IN.name}", "LoadCredential=", "LoadCredentail=", "Unknown"),
        ("gpuhours-worker.service", BINARY, BINARY + "x", "is not executable"),
    ],
    ids=["unknown-key", "bad-value", "drop-in", "missing-executable"],
)
def test_systemd_analyze_verify_catches_mistakes(
    scratch_root: Path, path: str, good: str, bad: str, message: str
) -> None:
    unit = scratch_root / "etc/systemd/system" / path
    assert good in unit.read_text()
    unit.write_text(unit.read_text().replace(good, bad))
    done = analyze(scratch_root, "verify", *UNITS)
    assert message in done.stdout + done.stderr


@pytest.mark.skipif(ANALYZE is None, reason=NO_ANALYZE)
@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_security_exposure_is_low(scratch_root: Path, name: str) -> None:
    done = analyze(
        scratch_root, "security", "--offline=yes", f"--threshold={EXPOSURE_THRESHOLD}", name
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "Overall exposure level" in done.stdout
