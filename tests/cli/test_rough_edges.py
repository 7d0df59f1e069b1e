"""The rough edges an operator hit running the CLI against the emulator, one test each.

In-process through ``main()`` (fast), with one subprocess run of the real entry
point at the end.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import pytest

from descope_keys.cli._errors import error_document, looks_like_secret
from descope_keys.cli._main import main
from descope_keys.cli._parser import build_parser
from descope_keys.emulator import __main__ as emulator_cli
from descope_keys.emulator._server import Emulator
from descope_keys.errors import NotFoundError, ServerError, TransportError
from tests.cli._cli import Cli

Run = Callable[..., tuple[int, str, str]]
EmulatorMain = Callable[..., str]


@pytest.fixture
def run(cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``run(*argv)`` -> (exit code, stdout, stderr) of ``main()`` against the emulator."""
    for name, value in cli.env().items():
        if name.startswith("DESCOPE_"):
            monkeypatch.setenv(name, value)

    def go(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert cli.management_key not in out + err
        return code, out, err

    return go


def _secret(cli: Cli, name: str) -> tuple[str, str]:
    created = cli.sdk(lambda c: c.access_keys.create(name))
    return created.key.id, created.cleartext


# keys load <secret>


def test_load_of_a_secret_masks_it_and_says_it_looks_like_a_secret(cli: Cli, run: Run) -> None:
    _, secret = _secret(cli, "pasted")
    for argv in (
        ("keys", "load", secret),
        ("keys", "update", secret, "--name", "x"),
    ):
        code, out, err = run(*argv)
        assert code == 1
        assert out == ""
        assert secret not in err
        last = err.strip().splitlines()[-1]
        assert last.startswith("descope-keys: no access key with that id (HTTP 404)")
        assert "looks like an access key's secret" in err


def test_a_secret_among_batch_ids_is_masked_in_every_line(cli: Cli, run: Run) -> None:
    _, secret = _secret(cli, "pasted-batch")
    code, out, err = run("keys", "deactivate", "Kmissing", secret)
    assert code == 1
    assert secret not in out + err
    assert "Kmissing" in err  # an ordinary id is still named
    code, out, err = run("keys", "deactivate", "--json", "Kmissing", secret)
    assert code == 1
    assert secret not in out + err
    assert [f["id"] for f in json.loads(out)["failed"]] == ["Kmissing", "***"]


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("K" + "a" * 27, False),  # a key id's shape
        ("Kunknown", False),
        ("ci.bot", False),  # short: a typo, not a secret
        ("K" + "a" * 27 + ".Zm9vYmFyYmF6cXV4", True),  # the emulator's cleartext
        ("x" * 41, True),  # longer than any id
        ("K2abcdefghij:klmnopqrstuv", True),  # a character no id has
    ],
)
def test_cleartext_shaped_ids_are_recognised(value: str, secret: bool) -> None:
    assert looks_like_secret(value) is secret


# keys delete with no ids


def test_delete_without_ids_no_longer_suggests_the_tenant_flag_it_refuses(run: Run) -> None:
    code, out, err = run("keys", "delete")
    assert code == 2
    assert out == ""
    assert "needs at least one key id" in err
    assert "(or --tenant T)" not in err
    # What it suggests instead does exist.
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["keys", "delete", "--tenant", "t"])
    assert refused.value.code == 2
    assert build_parser().parse_args(["keys", "search", "--tenant", "t"]).tenants == ["t"]


def test_the_other_batch_actions_still_offer_the_tenant_flag(run: Run) -> None:
    code, _, err = run("keys", "activate")
    assert code == 2
    assert "(or --tenant T)" in err


# --json failures


@pytest.mark.parametrize(
    ("argv", "code", "error_code"),
    [
        (("keys", "load", "Kunknown"), 1, "not_found"),
        (("keys", "update", "Kunknown", "--name", "n"), 1, "not_found"),
        (("keys", "rotate", "Kunknown"), 1, "not_found"),
        (("keys", "create", "--name", "x", "--ip", "10.0.0.300"), 2, "invalid_argument"),
        (("keys", "delete"), 2, "usage"),
        (("validate", "not-a-jwt"), 1, "token_invalid"),
    ],
)
def test_a_failing_command_with_json_writes_an_error_object_on_stdout_too(
    run: Run, argv: tuple[str, ...], code: int, error_code: str
) -> None:
    status, out, err = run(*argv, "--json")
    assert status == code
    document = json.loads(out)
    assert set(document) == {"error"}
    assert document["error"]["code"] == error_code
    line = err.strip().splitlines()[-1]
    assert line == "descope-keys: " + document["error"]["message"]
    if error_code == "not_found":
        assert document["error"]["status"] == 404


def test_the_json_error_object_masks_secrets_and_names_a_bug_unexpected(cli: Cli, run: Run) -> None:
    _, secret = _secret(cli, "pasted-json")
    _, out, err = run("keys", "load", secret, "--json")
    assert secret not in out + err
    assert json.loads(out)["error"]["code"] == "not_found"
    assert error_document(RuntimeError("boom"), "m") == {
        "error": {"code": "unexpected", "message": "m"}
    }
    assert error_document(TransportError("down"), "m")["error"] == {
        "code": "transport",
        "message": "m",
    }
    assert error_document(ServerError(503), "m")["error"]["status"] == 503
    assert error_document(NotFoundError(404), "m")["error"]["code"] == "not_found"


# batch rotate --json


def test_a_batch_rotate_in_json_mode_warns_to_store_the_secrets_now(cli: Cli, run: Run) -> None:
    ids = [_secret(cli, f"rotate-json-{i}")[0] for i in range(2)]
    code, out, err = run("keys", "rotate", "--json", *ids)
    assert code == 0, err
    rotated = json.loads(out)["rotated"]
    assert sorted(r["key"]["id"] for r in rotated) == sorted(ids)
    assert "shown only this once: store it now" in err
    for entry in rotated:
        assert entry["cleartext"] not in err


# help of the positional ID arguments


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _subparsers(child)
    return found


def test_every_positional_argument_has_help_text() -> None:
    positionals = [
        (parser.prog, action.metavar or action.dest)
        for parser in _subparsers(build_parser())
        for action in parser._actions
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
    ]
    assert ("descope-keys keys load", "ID") in positionals
    missing = [
        (parser.prog, action.dest)
        for parser in _subparsers(build_parser())
        for action in parser._actions
        if not action.option_strings
        and not isinstance(action, argparse._SubParsersAction)
        and not action.help
    ]
    assert missing == []


def test_keys_load_help_explains_its_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["keys", "load", "--help"])
    assert "the key's id (as `keys search` lists it)" in capsys.readouterr().out


# the emulator on a non-loopback host


@pytest.fixture
def emulator_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> EmulatorMain:
    """``emulator_main(*argv)`` -> stderr; the emulator never binds (start fails first)."""

    async def refuse(self: Emulator) -> None:
        raise OSError("not started by this test")

    monkeypatch.setattr(Emulator, "start", refuse)

    def go(*argv: str) -> str:
        capsys.readouterr()
        assert emulator_cli.main([*argv, "--port", "0"]) == 1
        return capsys.readouterr().err

    return go


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "build-box.example"])
def test_the_emulator_warns_when_its_host_is_reachable_from_the_network(
    emulator_main: EmulatorMain, host: str
) -> None:
    err = emulator_main("--host", host)
    assert err.startswith(f"warning: --host {host} listens on ")
    assert "reachable from the network" in err
    assert "cannot start the emulator: not started by this test" in err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_the_emulator_is_quiet_on_loopback(emulator_main: EmulatorMain, host: str) -> None:
    assert "warning" not in emulator_main("--host", host)


def test_the_default_host_is_loopback_and_quiet(emulator_main: EmulatorMain) -> None:
    assert "warning" not in emulator_main()


# the real entry point, as an operator runs it


@pytest.mark.slow
def test_the_entry_point_masks_a_pasted_secret_and_answers_json(cli: Cli) -> None:
    _, secret = _secret(cli, "pasted-subprocess")
    # --debug: the traceback holds the server's 404 message, which names the id.
    debug = cli.run("--debug", "keys", "load", secret, secrets=[secret])
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert secret not in debug.stdout + debug.stderr
    result = cli.run("keys", "load", secret, "--json", secrets=[secret])
    assert result.returncode == 1
    assert secret not in result.stdout
    assert json.loads(result.stdout)["error"]["code"] == "not_found"
    assert result.error_lines() == [
        "descope-keys: " + json.loads(result.stdout)["error"]["message"]
    ]
