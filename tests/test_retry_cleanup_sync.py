"""The sync client shows pending cleanups too, and finishes them in ``close()``."""

from __future__ import annotations

import pytest

from descope_keys import PendingCleanup
from descope_keys._retry import RetryPolicy
from descope_keys._sync import DescopeKeys
from descope_keys.emulator import ThreadedEmulator
from descope_keys.emulator._signing import generate_rsa_key
from descope_keys.errors import AmbiguousResultError

SHORT = RetryPolicy(attempts=4, deadline=0.5, initial_wait=0.001, max_wait=0.005)


def test_the_sync_client_lists_a_pending_cleanup_and_finishes_it_in_close() -> None:
    pem = generate_rsa_key().as_pem(private=True).decode("ascii")
    with ThreadedEmulator(signing_key=pem) as emu:
        client = DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url, retry=SHORT)
        try:
            assert client.pending_cleanups == ()
            # The create lands but its answer is lost; every search then fails.
            emu.inject_fault("/v1/mgmt/accesskey/create", status=500, after_handler=True)
            emu.inject_fault("/v1/mgmt/accesskey/search", status=503, times=None)
            with pytest.raises(AmbiguousResultError):
                client.access_keys.create("ci-bot")
            (pending,) = client.pending_cleanups
            assert isinstance(pending, PendingCleanup)
            assert (pending.name, pending.key_ids) == ("ci-bot", ())
            assert len(emu.stored_keys()) == 1
            emu.clear_faults()
        finally:
            client.close()
        assert client.pending_cleanups == ()
        assert emu.stored_keys() == []
