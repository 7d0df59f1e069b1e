"""``descope-keys demo`` runs the whole lifecycle by itself, offline, in seconds."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests._servers import closed_port
from tests.cli._cli import TIMEOUT, Cli

# Credentials of another project in the environment must not matter to the demo.
_HOSTILE_ENV = {
    "DESCOPE_PROJECT_ID": "Pother",
    "DESCOPE_MANAGEMENT_KEY": "Kother-mgmt-SECRET-0123456789",
    "DESCOPE_BASE_URI": f"http://127.0.0.1:{closed_port()}",
    "DESCOPE_PUBLIC_KEY": '{"keys": []}',
}


def test_demo_walks_the_whole_lifecycle_and_exits_zero() -> None:
    env = Cli("http://127.0.0.1:1").env(_HOSTILE_ENV)
    proc = subprocess.run(
        [sys.executable, "-m", "descope_keys.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert re.search(r"embedded emulator.*\n.*server at http://127\.0\.0\.1:\d+", out)
    steps = re.findall(r"^(\d)\. (.+)$", out, flags=re.MULTILINE)
    assert [n for n, _ in steps] == [str(i) for i in range(1, 10)]
    titles = " / ".join(t for _, t in steps).lower()
    for word in ("create", "search", "exchange", "validate", "deactivate", "activate", "rotate"):
        assert word in titles
    assert "delete" in titles
    key_id = re.search(r"^\s+id\s+(K\w+)$", out, flags=re.MULTILINE)
    assert key_id is not None
    # Column widths are the table's business: compare with runs of spaces collapsed.
    flat = "\n".join(" ".join(line.split()) for line in out.splitlines())
    for fact in (
        "tenants acme: deployer, viewer",
        "(in 30 days)",
        f"key id {key_id[1]}",
        "tenant acme roles: deployer, viewer; permissions: deploy, read",
        "status: inactive",
        "-> exchange fails as it should: AuthenticationError",
        "-> exchange succeeds",
        "-> exchange with the old secret fails as it should: AuthenticationError",
        "-> exchange with the new secret succeeds",
        f"-> load fails as it should: NotFoundError: no access key with id {key_id[1]}",
        "A machine calls a protected API with its key, across a token refresh",
        "all 200 OK, on 2 tokens from 2 exchanges",
        "-> every call had time left on its token",
    ):
        assert fact in flat, fact
    assert re.search(r"^Done in \d+\.\d\d s: create, load, search", out, flags=re.MULTILINE)
    assert _HOSTILE_ENV["DESCOPE_MANAGEMENT_KEY"] not in out


def test_demo_json_is_one_document_of_the_nine_steps() -> None:
    env = Cli("http://127.0.0.1:1").env(_HOSTILE_ENV)
    proc = subprocess.run(
        [sys.executable, "-m", "descope_keys.cli", "demo", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    document = json.loads(proc.stdout)
    assert document["ok"] is True
    assert [s["step"] for s in document["steps"]] == list(range(1, 10))
    assert document["steps"][0]["command"].startswith("keys create")
    assert all(s["output"] for s in document["steps"])
    assert "fails as it should" in " ".join(document["steps"][-1]["output"])
