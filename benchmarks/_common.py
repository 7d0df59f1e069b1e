"""Helpers shared by the benchmark case modules."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

if TYPE_CHECKING:
    from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
PROJECT_ID = "P2bEnChSuItE000000000000000001"
KID = "P2bEnChSuItEKey1"
_START_TIMEOUT = 60.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str = KID) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64url(n), "e": "AQAB"}


def sign_tokens(
    key: rsa.RSAPrivateKey, count: int, *, kid: str = KID, project_id: str = PROJECT_ID
) -> list[str]:
    """Distinct RS256 session tokens with access-key claims, valid for an hour."""
    header = b64url(json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode())
    now = int(time.time())
    tokens = []
    for i in range(count):
        claims = {
            "iss": f"https://api.descope.com/{project_id}",
            "sub": f"K2bEnChSuItEAccessKey{i:06d}",
            "iat": now,
            "exp": now + 3600,
            "roles": ["deployer", "viewer"],
            "permissions": ["deploy", "read"],
            "tenants": {"T2tenant01": {"roles": ["admin"], "permissions": ["keys:write"]}},
            "team": "platform",  # a custom claim of the key, at the top level
            "nsec": {"run": str(i)},
        }
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        tokens.append(f"{header}.{payload}.{b64url(signature)}")
    return tokens


def with_kid(jwt: str, kid: str) -> str:
    """The same token under another ``kid`` (its signature no longer matters)."""
    _, payload, signature = jwt.split(".")
    header = b64url(json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode())
    return f"{header}.{payload}.{signature}"


def rss_bytes() -> int:
    """Resident set size of this process now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


@contextlib.contextmanager
def no_descope_env() -> Iterator[None]:
    """Hide DESCOPE_* variables: the clients must use only what a case gives them."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("DESCOPE_")}
    try:
        yield
    finally:
        os.environ.update(saved)


@contextlib.contextmanager
def emulator_process() -> Iterator[tuple[str, str, str]]:
    """An emulator in a child process (its memory and CPU are not ours).

    Yields ``(base_url, project_id, management_key)``; always stops the child.
    """
    project_id = "Pbench" + secrets.token_hex(8)
    management_key = secrets.token_urlsafe(24)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "descope_keys.emulator", "--host", HOST, "--port", "0"),
            # "=" form: a urlsafe key may start with "-", which argparse
            # would read as a flag (one start in 64 failed that way).
            f"--project-id={project_id}",
            f"--management-key={management_key}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = None
        deadline = time.monotonic() + _START_TIMEOUT
        while base_url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("DESCOPE_BASE_URI="):
                base_url = line.strip().split("=", 1)[1]
        if base_url is None:
            raise RuntimeError("the emulator did not start")
        yield base_url, project_id, management_key
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def serve_app(app: web.Application) -> None:
    """Serve ``app`` on a free port of :data:`HOST`, print the port, stop when stdin closes.

    The body of a benchmark's server child process: the parent reads the
    port from its stdout, and closing the child's stdin (or dying) stops it,
    so no server outlives its benchmark.
    """
    import asyncio

    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
