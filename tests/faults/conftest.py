"""Fixtures of the fault suite: emulator <- fault proxy <- SDK client, all on 127.0.0.1.

Clients use tiny backoff waits and a short per-attempt timeout, so a scenario
with a slow or silent peer still ends in well under a second.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping

import pytest

from descope_keys._client import AsyncDescopeKeys
from descope_keys._reconcile import CreateReconciler
from descope_keys._retry import RetryPolicy
from descope_keys.emulator import Emulator
from descope_keys.emulator._signing import generate_rsa_key
from descope_keys.errors import AuthenticationError
from tests.faults._proxy import Fault, FaultProxy

PROJECT_ID = "P2faultsuite0000000000000000"
MANAGEMENT_KEY = "mgmt-key-SECRET-fault-suite-0001"
#: Per-attempt timeout: past it, a drip or a black hole is a read timeout.
TIMEOUT = 0.3
FAST = RetryPolicy(attempts=4, deadline=10.0, initial_wait=0.001, max_wait=0.005)
#: FAST with a deadline short enough for a cleanup to run out of it in a test.
SHORT = RetryPolicy(attempts=4, deadline=0.5, initial_wait=0.001, max_wait=0.005)
BASE = "/v1/mgmt/accesskey"
CREATE, SEARCH, DELETE, ROTATE = (
    f"{BASE}/create",
    f"{BASE}/search",
    f"{BASE}/delete",
    f"{BASE}/rotate",
)


@pytest.fixture(scope="session")
def signing_pem() -> str:
    return generate_rsa_key().as_pem(private=True).decode("ascii")


@pytest.fixture
async def emu(signing_pem: str) -> AsyncIterator[Emulator]:
    async with Emulator(PROJECT_ID, MANAGEMENT_KEY, signing_key=signing_pem) as emulator:
        yield emulator


@pytest.fixture
async def proxy(emu: Emulator) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(emu.base_url) as fault_proxy:
        yield fault_proxy


@pytest.fixture
async def sdk(proxy: FaultProxy) -> AsyncIterator[AsyncDescopeKeys]:
    """The client under test: every request goes through the fault proxy."""
    async with AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=proxy.base_url, timeout=TIMEOUT, retry=FAST
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def client_of(
    proxy: FaultProxy, policy: RetryPolicy = SHORT
) -> AsyncIterator[AsyncDescopeKeys]:
    """A client through the proxy under ``policy`` (default: :data:`SHORT`)."""
    async with AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=proxy.base_url, timeout=TIMEOUT, retry=policy
    ) as client:
        yield client


def always(proxy: FaultProxy, path: str, fault: Fault) -> None:
    """Apply ``fault`` to every request on ``path`` until ``proxy.calm()``."""
    proxy.chaos(random.Random(0), 1.0, [fault], paths=[path])


@pytest.fixture
async def direct(emu: Emulator) -> AsyncIterator[AsyncDescopeKeys]:
    """A second client straight to the emulator: to set up, and to check secrets."""
    async with AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=emu.base_url, retry=RetryPolicy.disabled()
    ) as client:
        yield client


@pytest.fixture
def retry_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="descope_keys")
    return caplog


def retries(caplog: pytest.LogCaptureFixture, operation: str) -> list[logging.LogRecord]:
    """The INFO records of retries of ``operation``."""
    return [
        r
        for r in caplog.records
        if getattr(r, "operation", None) == operation and hasattr(r, "wait")
    ]


def duplicates(emu: Emulator) -> dict[str, int]:
    """Names held by more than one stored key."""
    names = Counter(k["name"] for k in emu.stored_keys())
    return {name: n for name, n in names.items() if n > 1}


async def secret_works(direct: AsyncDescopeKeys, key_id: str, cleartext: str) -> bool:
    try:
        token = await direct.exchange_access_key(cleartext)
    except AuthenticationError:
        return False
    return token.key_id == key_id


async def audit(
    emu: Emulator,
    direct: AsyncDescopeKeys,
    secrets: Mapping[str, str],
    *,
    also: Iterable[str] = (),
) -> None:
    """The emulator holds exactly the keys in ``secrets`` (plus ``also``), and each secret works.

    A key outside both is a duplicate or an orphan: a key whose secret no
    caller holds.
    """
    stored = {k["id"] for k in emu.stored_keys()}
    orphans = stored - set(secrets) - set(also)
    assert not orphans, f"keys nobody holds a secret for: {sorted(orphans)}"
    missing = set(secrets) - stored
    assert not missing, f"keys reported as made but absent: {sorted(missing)}"
    for key_id, cleartext in secrets.items():
        assert await secret_works(direct, key_id, cleartext), f"the secret of {key_id} fails"


class BlindRetry(CreateReconciler):
    """A create reconcile that undoes nothing.

    An ambiguous create is then retried blindly, as the official SDKs do, and
    may leave a duplicate: the negative control that proves the audits catch it.
    """

    async def __call__(self, failure: BaseException) -> None:
        return None


def retry_creates_blindly(sdk: AsyncDescopeKeys) -> None:
    """Inject :class:`BlindRetry` in place of the client's create reconcile."""
    ledger = sdk._creates
    sdk.access_keys._new_reconciler = lambda caller, operation, body: BlindRetry(
        caller=caller, operation=operation, body=body, ledger=ledger
    )
