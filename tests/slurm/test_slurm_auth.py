"""Token providers: file (re-read on change), environment, minted HS256 with renewal."""

from __future__ import annotations

import os

import jwt
import pytest

from connectors.slurm.auth import EnvToken, FileToken, MintedToken, StaticToken, clean_token
from connectors.slurm.errors import SlurmAuthError

KEY = bytes(range(32))  # a binary key, as `dd if=/dev/random bs=32 count=1` makes


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("abc.def.ghi", "abc.def.ghi"),
        ("  abc.def.ghi\n", "abc.def.ghi"),
        ("SLURM_JWT=abc.def.ghi\n", "abc.def.ghi"),
        ("\nSLURM_JWT= abc.def.ghi \n", "abc.def.ghi"),
    ],
)
def test_clean_token(text, token):
    assert clean_token(text) == token


def test_file_token_is_reread_when_the_file_changes(tmp_path):
    path = tmp_path / "slurm.jwt"
    path.write_text("SLURM_JWT=one\n")
    provider = FileToken(path)
    assert provider.token() == "one"

    path.write_text("SLURM_JWT=two-longer\n")  # size changes
    assert provider.token() == "two-longer"

    path.write_text("SLURM_JWT=333-longer\n")  # same size: the mtime tells
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert provider.token() == "333-longer"


def test_file_token_is_not_reread_when_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "slurm.jwt"
    path.write_text("one")
    provider = FileToken(path)
    assert provider.token() == "one"
    reads = []
    original = type(path).read_text
    monkeypatch.setattr(
        type(path), "read_text", lambda self, **kw: reads.append(1) or original(self, **kw)
    )
    assert provider.token() == "one"
    assert reads == []


@pytest.mark.parametrize("content", ["", "  \n", "SLURM_JWT=\n"])
def test_empty_file_is_an_auth_error(tmp_path, content):
    path = tmp_path / "slurm.jwt"
    path.write_text(content)
    with pytest.raises(SlurmAuthError, match="empty"):
        FileToken(path).token()


def test_missing_file_is_an_auth_error(tmp_path):
    with pytest.raises(SlurmAuthError, match="cannot read"):
        FileToken(tmp_path / "nope").token()


def test_env_token_is_read_at_each_call():
    environ = {"SLURM_JWT": "SLURM_JWT=first"}
    provider = EnvToken(environ=environ)
    assert provider.token() == "first"
    environ["SLURM_JWT"] = "second"
    assert provider.token() == "second"
    assert EnvToken("GPUHOURS_JWT", environ={"GPUHOURS_JWT": " x "}).token() == "x"


def test_env_token_missing():
    with pytest.raises(SlurmAuthError, match="SLURM_JWT"):
        EnvToken(environ={}).token()


def test_minted_token_decodes_with_the_key():
    clock = Clock(1_795_244_400.7)
    provider = MintedToken(KEY, "gpuhours", lifespan=1800, clock=clock)
    token = provider.token()
    claims = jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"iat": 1_795_244_400, "exp": 1_795_244_400 + 1800, "sun": "gpuhours"}
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, bytes(32), algorithms=["HS256"], options={"verify_exp": False})


def test_minted_token_is_reused_then_renewed_before_expiry():
    clock = Clock(1_000_000.0)
    provider = MintedToken(KEY, "gpuhours", lifespan=1800, clock=clock)  # renew 360 s before exp
    first = provider.token()
    assert provider.expires_at == 1_001_800

    clock.now += 1800 - 361  # 361 s left: still good
    assert provider.token() == first

    clock.now += 1  # 360 s left (20 % of the lifespan): renew
    second = provider.token()
    assert second != first
    claims = jwt.decode(second, KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["iat"] == 1_001_440
    assert claims["exp"] == 1_001_440 + 1800
    assert provider.expires_at == claims["exp"]


def test_short_lifespan_renews_at_the_60_second_margin():
    clock = Clock(5_000.0)
    provider = MintedToken(KEY, "svc", lifespan=200, clock=clock)  # 20 % = 40 s < 60 s
    first = provider.token()
    clock.now += 139  # 61 s left
    assert provider.token() == first
    clock.now += 1  # 60 s left
    assert provider.token() != first


def test_minted_token_from_key_file_keeps_binary_bytes(tmp_path):
    key = b"\n\x00 binary key with edge whitespace \n" + bytes(range(10))
    path = tmp_path / "jwt_hs256.key"
    path.write_bytes(key)
    token = MintedToken.from_key_file(path, "svc", clock=Clock(100.0)).token()
    assert (
        jwt.decode(token, key, algorithms=["HS256"], options={"verify_exp": False})["sun"] == "svc"
    )


def test_reprs_never_show_secrets(tmp_path):
    path = tmp_path / "slurm.jwt"
    path.write_text("SLURM_JWT=very-secret-token")
    file_provider = FileToken(path)
    token = file_provider.token()
    minted = MintedToken(KEY, "svc", clock=Clock(100.0))
    minted_token = minted.token()
    static = StaticToken("static-secret")
    env = EnvToken(environ={"SLURM_JWT": "env-secret"})
    env.token()
    for provider, secret in [
        (file_provider, token),
        (minted, minted_token),
        (static, "static-secret"),
        (env, "env-secret"),
    ]:
        assert secret not in repr(provider)
        assert secret not in str(provider)
    assert repr(KEY) not in repr(minted)


def test_invalid_minting_parameters():
    with pytest.raises(SlurmAuthError):
        MintedToken(b"", "svc")
    with pytest.raises(ValueError, match="user"):
        MintedToken(KEY, "")
    with pytest.raises(ValueError, match="lifespan"):
        MintedToken(KEY, "svc", lifespan=0)
    with pytest.raises(SlurmAuthError):
        StaticToken("  ")
