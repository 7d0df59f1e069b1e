"""Every command, in human and ``--json`` modes, through the real entry point."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from descope_keys._client import AsyncDescopeKeys
from descope_keys._models import AccessKey, CreatedAccessKey, KeyTenant
from descope_keys.emulator import ThreadedEmulator
from descope_keys.errors import AuthenticationError, NotFoundError
from tests.cli._cli import TIMEOUT, Cli, fields


def _create(cli: Cli, name: str, tenant: str | None = None) -> CreatedAccessKey:
    tenants = [KeyTenant(tenant, ("deployer",))] if tenant else ()
    return cli.sdk(lambda c: c.access_keys.create(name, key_tenants=tenants))


def _load(cli: Cli, key_id: str) -> AccessKey:
    return cli.sdk(lambda c: c.access_keys.load(key_id))


def _exchange_fails(cli: Cli, secret: str) -> bool:
    async def attempt(client: AsyncDescopeKeys) -> bool:
        try:
            await client.exchange_access_key(secret)
        except AuthenticationError:
            return True
        return False

    return cli.sdk(attempt)


def test_create_prints_the_key_and_its_secret_once_with_a_warning(cli: Cli) -> None:
    result = cli.run(
        "keys", "create", "--name", "ci-bot", "--tenant", "acme:deployer,viewer",
        "--expires-in", "30d", "--ip", "127.0.0.0/8", "--claim", "team=infra",
        "--description", "deploys things",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Created access key K")
    key_id = lines[0].rsplit(" ", 1)[1]
    secret = lines[-1].split()[-1]
    assert lines[-1].startswith("secret ")
    assert result.stdout.count(secret) == 1
    shown = fields(result.stdout)
    assert shown["id"] == key_id
    assert shown["tenants"] == "acme: deployer, viewer"
    # Local time (the subprocess runs with TZ=UTC) and the relative expiry.
    assert shown["expires"].endswith(" UTC (in 30 days)")
    assert shown["permitted IPs"] == "127.0.0.0/8"
    assert shown["custom claims"] == '{"team": "infra"}'
    assert shown["description"] == "deploys things"
    assert "shown only this once" in result.stderr
    assert secret not in result.stderr
    assert not _exchange_fails(cli, secret)


def test_create_json_has_the_wire_shape(cli: Cli) -> None:
    expires = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    result = cli.run(
        "--json", "keys", "create", "--name", "json-bot", "--role", "viewer",
        "--expires-at", expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"key", "cleartext"}
    key = doc["key"]
    assert key["name"] == "json-bot"
    assert key["roleNames"] == ["viewer"]
    assert key["status"] == "active"
    assert key["expireTime"] == int(expires.timestamp())
    assert {"keyTenants", "createdTime", "permittedIps", "customClaims"} <= set(key)
    assert "shown only this once" in result.stderr
    assert doc["cleartext"] not in result.stderr


def test_load_shows_one_key_in_both_modes(cli: Cli) -> None:
    key = _create(cli, "loadable", tenant="t-load").key
    human = cli.run("keys", "load", key.id)
    assert human.returncode == 0, human.stderr
    shown = fields(human.stdout)
    assert (shown["id"], shown["status"], shown["expires"]) == (key.id, "active", "never")
    assert shown["tenants"] == "t-load: deployer"
    machine = cli.run("keys", "load", key.id, "--json")
    assert machine.returncode == 0
    doc = json.loads(machine.stdout)
    assert list(doc) == ["key"]
    assert doc["key"]["id"] == key.id
    assert doc["key"]["keyTenants"] == [
        {"tenantId": "t-load", "roleNames": ["deployer"], "tenantName": ""}
    ]


def test_search_prints_an_aligned_table_or_json(cli: Cli) -> None:
    ids = {_create(cli, f"searchable-{i}", tenant="t-search").key.id for i in range(2)}
    human = cli.run("keys", "search", "--tenant", "t-search")
    assert human.returncode == 0, human.stderr
    header, *rows = human.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "STATUS", "ROLES", "TENANTS", "EXPIRES"]
    assert {row.split()[0] for row in rows} == ids
    for column in ("NAME", "STATUS", "TENANTS", "EXPIRES"):
        assert {row[header.index(column) - 1] for row in rows} == {" "}
    machine = cli.run("keys", "search", "--tenant", "t-search", "--json")
    assert {k["id"] for k in json.loads(machine.stdout)["keys"]} == ids
    empty = cli.run("keys", "search", "--tenant", "t-nobody")
    assert (empty.returncode, empty.stdout) == (0, "No access keys match.\n")
    assert json.loads(cli.run("keys", "search", "--tenant", "t-nobody", "--json").stdout) == {
        "keys": []
    }


def test_update_changes_given_fields_and_keeps_the_name(cli: Cli) -> None:
    key = _create(cli, "updatable").key
    human = cli.run("keys", "update", key.id, "--description", "new words", "--ip", "10.1.0.0/16")
    assert human.returncode == 0, human.stderr
    assert f"Updated access key {key.id}" in human.stdout
    shown = fields(human.stdout)
    assert (shown["name"], shown["permitted IPs"]) == ("updatable", "10.1.0.0/16")
    machine = cli.run("keys", "update", key.id, "--name", "renamed", "--no-ips", "--json")
    doc = json.loads(machine.stdout)
    assert (doc["key"]["name"], doc["key"]["permittedIps"]) == ("renamed", [])
    stored = _load(cli, key.id)
    assert (stored.name, stored.description, stored.permitted_ips) == ("renamed", "new words", ())


def test_exchange_and_validate_read_stdin_and_show_claims(cli: Cli) -> None:
    created = _create(cli, "exchanger", tenant="acme")
    human = cli.run("exchange", "-", stdin=created.cleartext + "\n", secrets=[created.cleartext])
    assert human.returncode == 0, human.stderr
    shown = fields(human.stdout)
    assert shown["key id"] == created.key.id
    assert shown["tenant acme"] == "roles: deployer; permissions: deploy, read"
    assert shown["expires"].endswith(" UTC (in 10 minutes)")
    assert shown["jwt"].count(".") == 2
    quiet = cli.run("exchange", "-q", "-", stdin=created.cleartext, secrets=[created.cleartext])
    jwt = quiet.stdout.strip()
    assert jwt.count(".") == 2
    assert len(quiet.stdout.splitlines()) == 1
    machine = cli.run("exchange", "--json", "--tenant", "acme", created.cleartext)
    doc = json.loads(machine.stdout)
    assert set(doc) == {"jwt", "keyId", "claims"}
    assert doc["keyId"] == created.key.id
    assert doc["claims"]["dct"] == "acme"

    valid = cli.run("validate", "-", stdin=jwt, secrets=[jwt])
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("The token is valid")
    assert fields(valid.stdout)["key id"] == created.key.id
    assert jwt not in valid.stdout
    checked = json.loads(cli.run("validate", jwt, "--json", secrets=[jwt]).stdout)
    assert (checked["jwt"], checked["keyId"]) == (jwt, created.key.id)
    assert checked["claims"]["tenants"] == {
        "acme": {"roles": ["deployer"], "permissions": ["deploy", "read"]}
    }


def test_a_secret_argument_works_but_warns_and_stdin_does_not(cli: Cli) -> None:
    created = _create(cli, "argument")
    for command in (["exchange", "-q"], ["token"]):
        argument = cli.run(*command, created.cleartext, secrets=[created.cleartext])
        assert argument.returncode == 0, argument.stderr
        assert argument.stdout.count(".") == 2
        (warning,) = argument.error_lines()
        assert warning.startswith("warning: a secret given as an argument is visible")
        assert "'-'" in warning
        piped = cli.run(*command, "-", stdin=created.cleartext, secrets=[created.cleartext])
        assert piped.returncode == 0, piped.stderr
        assert piped.stderr == ""


def test_batch_reports_every_failure_and_exits_non_zero(cli: Cli) -> None:
    ids = [_create(cli, f"batch-{i}").key.id for i in range(2)]
    result = cli.run("keys", "deactivate", *ids, "Kunknown")
    assert result.returncode == 1
    assert sorted(result.stdout.splitlines()) == sorted(f"deactivated {i}" for i in ids)
    errors = result.error_lines()
    assert errors[0].startswith("descope-keys: deactivate Kunknown failed: no access key")
    assert errors[-1] == "descope-keys: deactivate: 2 of 3 keys done, 1 failed: Kunknown"
    assert "Traceback" not in result.stderr
    assert all(not _load(cli, i).is_active for i in ids)

    machine = cli.run("keys", "activate", "--json", *ids, ids[0])
    assert machine.returncode == 0, machine.stderr
    assert json.loads(machine.stdout) == {"done": ids, "failed": []}
    assert all(_load(cli, i).is_active for i in ids)

    failed = cli.run("keys", "delete", "--json", "Kgone")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["failed"][0]["id"] == "Kgone"


def test_rotate_every_key_of_a_tenant_prints_each_new_secret(cli: Cli) -> None:
    old = {c.key.id: c.cleartext for c in (_create(cli, f"rot-{i}", "t-rot") for i in range(3))}
    result = cli.run("keys", "rotate", "--tenant", "t-rot", secrets=list(old.values()))
    assert result.returncode == 0, result.stderr
    new = {}
    for line in result.stdout.splitlines():
        if line.startswith("rotated K"):
            new[line.split()[1]] = line.rsplit(" ", 1)[1]
    assert set(new) == set(old)
    assert "shown only this once" in result.stderr
    for key_id, secret in new.items():
        assert secret not in result.stderr
        assert _exchange_fails(cli, old[key_id])
        assert not _exchange_fails(cli, secret)

    machine = cli.run("keys", "rotate", "--tenant", "t-rot", "--json", secrets=list(new.values()))
    doc = json.loads(machine.stdout)
    assert doc["failed"] == []
    assert {r["key"]["id"] for r in doc["rotated"]} == set(old)
    assert not {r["cleartext"] for r in doc["rotated"]} & set(new.values())

    key_id = next(iter(old))
    single = json.loads(cli.run("keys", "rotate", key_id, "--json").stdout)
    assert set(single) == {"key", "cleartext"}
    assert single["key"]["id"] == key_id
    nothing = cli.run("keys", "rotate", "--tenant", "t-empty")
    assert nothing.returncode == 0
    assert "has no access keys" in nothing.stderr


def test_delete_reads_ids_from_stdin(cli: Cli) -> None:
    ids = [_create(cli, f"doomed-{i}").key.id for i in range(3)]
    result = cli.run("keys", "delete", "-", stdin="\n".join(ids) + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "deleted 3 keys"
    for key_id in ids:
        with pytest.raises(NotFoundError):
            _load(cli, key_id)


def _read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 1.0)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side of the pty is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_batch_on_a_terminal_draws_a_progress_bar_instead_of_lines(cli: Cli) -> None:
    ids = [_create(cli, f"tty-{i}").key.id for i in range(5)]
    primary, secondary = os.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "descope_keys.cli", "keys", "deactivate", *ids],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=secondary,
            env=cli.env(),
            timeout=TIMEOUT,
            check=False,
            text=True,
        )
        os.close(secondary)
        secondary = -1
        terminal = _read_all(primary)
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)
    assert proc.returncode == 0, terminal
    assert proc.stdout == "deactivated 5 keys\n"
    assert "deactivate [" in terminal
    assert "5/5" in terminal
    assert "\n" not in terminal.strip("\r\n ")


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
def test_interrupted_rotate_still_prints_the_secrets_it_received(
    cli: Cli, emulator: ThreadedEmulator
) -> None:
    old = {c.key.id: c.cleartext for c in (_create(cli, f"int-{i}", "t-int") for i in range(3))}
    path = "/v1/mgmt/accesskey/rotate"
    before = emulator.request_counts[path]
    # One rotation hangs, so Ctrl-C lands while two secrets are already in hand.
    delay = 2.0
    emulator.inject_fault(path, status=None, delay=delay, times=1)
    hung_until = time.monotonic() + delay
    running = cli.start("keys", "rotate", "--tenant", "t-int", "--json")
    deadline = time.monotonic() + TIMEOUT
    while emulator.request_counts[path] < before + 3:
        assert time.monotonic() < deadline, "the rotations never reached the emulator"
        time.sleep(0.01)
    time.sleep(0.5)
    running.proc.send_signal(signal.SIGINT)
    result = running.finish(secrets=list(old.values()))
    assert result.returncode == 130, result.stderr
    doc = json.loads(result.stdout)
    assert doc["interrupted"] is True
    assert len(doc["rotated"]) == 2
    assert "rotate interrupted: 2 of 3 keys done" in result.stderr
    assert result.error_lines()[-1] == "descope-keys: interrupted"
    for rotated in doc["rotated"]:
        assert rotated["cleartext"] not in result.stderr
        assert not _exchange_fails(cli, rotated["cleartext"])
    # Let the emulator finish the hung request, so that its teardown finds no
    # handler still pending (it would be destroyed mid-flight, noisily).
    time.sleep(max(0.0, hung_until + 0.3 - time.monotonic()))


def _raw_exchange(cli: Cli, secret: str) -> str:
    """A session JWT straight from the emulator, with no local validation on the way."""
    request = urllib.request.Request(
        cli.base_url + "/v1/auth/accesskey/exchange",
        data=b'{"loginOptions": {}}',
        headers={
            "Authorization": f"Bearer {cli.project_id}:{secret}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        jwt: str = json.load(response)["sessionJwt"]
    return jwt


def test_validate_refuses_an_expired_token_with_a_fix_hint(
    cli: Cli, emulator: ThreadedEmulator
) -> None:
    created = _create(cli, "expiring")
    emulator.clock.advance(-7200)
    try:
        jwt = _raw_exchange(cli, created.cleartext)
    finally:
        emulator.clock.advance(7200)
    result = cli.run("validate", jwt, secrets=[jwt, created.cleartext])
    assert result.returncode == 1
    assert result.error_lines() == [
        "descope-keys: the token has expired: exchange the access key for a fresh one"
    ]
    assert result.stdout == ""
