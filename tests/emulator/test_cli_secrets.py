"""The emulator CLI's management key: from a file or the environment; the flag warns."""

from __future__ import annotations

from pathlib import Path

import pytest

from descope_keys.emulator import Emulator
from descope_keys.emulator.__main__ import ENV_MANAGEMENT_KEY, _management_key, _parser

KEY = "K2-cli-SECRET-management-key"


def _key(argv: list[str]) -> str | None:
    return _management_key(_parser().parse_args(argv))


def test_the_key_file_is_read_and_stripped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n", encoding="utf-8")
    assert _key(["--management-key-file", str(path)]) == KEY
    assert capsys.readouterr().err == ""


def test_the_environment_variable_is_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_MANAGEMENT_KEY, f" {KEY}\n")
    assert _key([]) == KEY
    assert capsys.readouterr().err == ""


def test_without_any_the_key_is_random(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_MANAGEMENT_KEY, raising=False)
    assert _key([]) is None  # the Emulator makes one, and it is printed


def test_the_flag_still_works_but_warns(capsys: pytest.CaptureFixture[str]) -> None:
    assert _key(["--management-key", KEY]) == KEY
    err = capsys.readouterr().err
    assert "--management-key-file" in err
    assert ENV_MANAGEMENT_KEY in err
    assert KEY not in err


def test_a_file_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MANAGEMENT_KEY, "from-env")
    path = tmp_path / "key"
    path.write_text(KEY, encoding="utf-8")
    assert _key(["--management-key-file", str(path)]) == KEY


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_an_unusable_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    path = tmp_path / "key"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["--management-key-file", str(path)])
    assert info.value.code == 2
    assert "management key file" in capsys.readouterr().err


def test_the_file_and_the_flag_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY, encoding="utf-8")
    with pytest.raises(SystemExit):
        _parser().parse_args(["--management-key-file", str(path), "--management-key", KEY])


def test_trusted_proxies_and_idle_timeout_reach_the_emulator() -> None:
    args = _parser().parse_args(
        ["--trusted-proxies", "10.0.0.0/8,127.0.0.1", "--idle-timeout", "5"]
    )
    assert args.trusted_proxies == "10.0.0.0/8,127.0.0.1"
    assert args.idle_timeout == 5.0
    emulator = Emulator(trusted_proxies=args.trusted_proxies, idle_timeout=args.idle_timeout)
    assert emulator._trusted_proxies is not None
    assert [str(n) for n in emulator._trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
