"""The commands themselves: thin layers over ``AsyncDescopeKeys``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any

from .._client import AsyncDescopeKeys
from .._models import AccessKey, CreatedAccessKey
from ..errors import DescopeError
from ._batch import BatchResult, Progress, run_batch
from ._console import Io
from ._errors import EXIT_FAILURE, EXIT_OK, Context, describe, redact
from ._output import (
    SECRET_WARNING,
    created_json,
    key_json,
    key_rows,
    key_table,
    now_utc,
    rows,
    token_json,
    token_rows,
    write_json,
)

__all__ = ["run_exchange", "run_keys", "run_token", "run_validate"]

_PAST = {
    "activate": "activated",
    "deactivate": "deactivated",
    "delete": "deleted",
    "rotate": "rotated",
}


def _show_key(
    io: Io, key: AccessKey, heading: str | None = None, extra: Sequence[tuple[str, str]] = ()
) -> None:
    if heading:
        io.print(heading)
    io.print(*rows([*key_rows(key, now_utc()), *extra]))


def _show_created(io: Io, created: CreatedAccessKey, heading: str) -> None:
    if io.json:
        write_json(io.out, created_json(created))
    else:
        _show_key(io, created.key, heading, [("secret", created.cleartext)])
    io.out.flush()
    # stderr, so the warning reaches the operator even when stdout is captured.
    io.err.write(SECRET_WARNING + "\n")


async def _create(client: AsyncDescopeKeys, args: argparse.Namespace, io: Io) -> int:
    created = await client.access_keys.create(
        args.name,
        expire_time=args.expires_in or args.expires_at,
        role_names=args.roles or (),
        key_tenants=args.tenants or (),
        user_id=args.user,
        custom_claims=dict(args.claims) if args.claims else None,
        description=args.description,
        permitted_ips=args.ips,
    )
    _show_created(io, created, f"Created access key {created.key.id}")
    return EXIT_OK


async def _load(client: AsyncDescopeKeys, args: argparse.Namespace, io: Io) -> int:
    key = await client.access_keys.load(args.key_id)
    if io.json:
        write_json(io.out, {"key": key_json(key)})
    else:
        _show_key(io, key)
    return EXIT_OK


async def _search(client: AsyncDescopeKeys, args: argparse.Namespace, io: Io) -> int:
    keys = await client.access_keys.search(
        tenant_ids=args.tenants, bound_user_id=args.bound_user, creating_user=args.created_by
    )
    if io.json:
        write_json(io.out, {"keys": [key_json(k) for k in keys]})
    elif keys:
        io.print(*key_table(keys, now_utc()))
    else:
        io.print("No access keys match.")
    return EXIT_OK


async def _update(client: AsyncDescopeKeys, args: argparse.Namespace, io: Io) -> int:
    keys = client.access_keys
    # The wire always sets the name, so keep the current one unless a new one is given.
    name = args.name if args.name is not None else (await keys.load(args.key_id)).name
    updated = await keys.update(
        args.key_id,
        name=name,
        description=args.description,
        custom_claims=dict(args.claims) if args.claims else None,
        permitted_ips=[] if args.no_ips else args.ips,
        role_names=args.roles,
        key_tenants=args.tenants,
    )
    key = updated if updated is not None else await keys.load(args.key_id)
    if io.json:
        write_json(io.out, {"key": key_json(key)})
    else:
        _show_key(io, key, f"Updated access key {key.id}")
    return EXIT_OK


async def _batch_ids(client: AsyncDescopeKeys, args: argparse.Namespace) -> list[str]:
    tenant = getattr(args, "tenant", None)
    ids: list[str] = list(args.key_ids)
    if tenant is not None:
        ids = [k.id for k in await client.access_keys.search(tenant_ids=[tenant])]
    # A key rotated twice at once would lose one of its two new secrets.
    return list(dict.fromkeys(ids))


async def _run_batch(client: AsyncDescopeKeys, args: argparse.Namespace, io: Io) -> int:
    action: str = args.action
    ids = await _batch_ids(client, args)
    rotate = action == "rotate"
    tenant = getattr(args, "tenant", None)
    if rotate and len(ids) == 1 and tenant is None:
        created = await client.access_keys.rotate(ids[0])
        _show_created(io, created, f"Rotated access key {created.key.id}: the old secret is void")
        return EXIT_OK
    if not ids:
        if io.json:
            write_json(io.out, {"rotated" if rotate else "done": [], "failed": []})
        else:
            io.error(f"tenant {tenant} has no access keys: nothing to {action}")
        return EXIT_OK
    call = getattr(client.access_keys, action)
    progress = Progress.for_stream(io.err, action, len(ids))
    succeeded: list[tuple[str, Any]] = []
    failed: list[tuple[str, DescopeError]] = []

    def on_success(key_id: str, value: Any) -> None:
        succeeded.append((key_id, value))
        if io.json:
            return
        if isinstance(value, CreatedAccessKey):
            progress.write(io.out, f"rotated {key_id} ({value.key.name}): {value.cleartext}")
        elif not progress.enabled:
            progress.write(io.out, f"{_PAST[action]} {key_id}")

    def on_failure(key_id: str, exc: DescopeError) -> None:
        failed.append((key_id, exc))
        _, message = describe(exc, Context.MANAGEMENT, key_id=key_id)
        progress.write(io.err, io.error_line(f"{action} {key_id} failed: {message}"))

    try:
        result: BatchResult[Any] = await run_batch(
            ids,
            call,
            concurrency=args.concurrency,
            progress=progress,
            on_success=on_success,
            on_failure=on_failure,
        )
    except asyncio.CancelledError:
        # Ctrl-C: still report what happened; for rotate in --json mode this is
        # the only copy of the new secrets already received.
        _report_batch(io, action, BatchResult(succeeded, failed), len(ids), interrupted=True)
        raise
    _report_batch(io, action, result, len(ids))
    return EXIT_FAILURE if result.failed else EXIT_OK


def _report_batch(
    io: Io, action: str, result: BatchResult[Any], total: int, *, interrupted: bool = False
) -> None:
    failed = [
        {
            "id": redact(key_id, io.secrets),
            "error": redact(describe(exc, Context.MANAGEMENT, key_id=key_id)[1], io.secrets),
        }
        for key_id, exc in result.failed
    ]
    done = len(result.succeeded)
    if io.json:
        document: dict[str, Any] = {"failed": failed}
        if action == "rotate":
            document = {"rotated": [created_json(v) for _, v in result.succeeded], **document}
        else:
            document = {"done": [k for k, _ in result.succeeded], **document}
        if interrupted:
            document["interrupted"] = True
        write_json(io.out, document)
    elif total > 1 and not failed and not interrupted:
        io.print(f"{_PAST[action]} {done} keys")
    io.out.flush()
    # On stderr in --json mode too: the secrets in the document are as one-time.
    if action == "rotate" and done:
        where = 'each "cleartext" in the JSON' if io.json else "each new secret above"
        io.err.write(
            f"warning: {where} is shown only this once: store it now; "
            "the old secrets no longer work\n"
        )
    if interrupted:
        io.error(
            f"{action} interrupted: {done} of {total} keys done, {len(failed)} failed; "
            f"the others may or may not have been {_PAST[action]}"
        )
    elif failed and total > 1:
        ids = ", ".join(f["id"] for f in failed)
        io.error(f"{action}: {done} of {total} keys done, {len(failed)} failed: {ids}")


async def run_keys(client: AsyncDescopeKeys, args: argparse.Namespace, io: Io) -> int:
    """``descope-keys keys ACTION ...``."""
    handlers = {"create": _create, "load": _load, "search": _search, "update": _update}
    handler = handlers.get(args.action, _run_batch)
    return await handler(client, args, io)


async def run_exchange(client: AsyncDescopeKeys, args: argparse.Namespace, io: Io) -> int:
    """``descope-keys exchange SECRET|-``: the JWT is validated locally before it is shown."""
    token = await client.exchange_access_key(
        args.secret, selected_tenant=args.tenant, audience=args.audience
    )
    if io.json:
        write_json(io.out, token_json(token))
    elif args.quiet:
        io.print(token.jwt)
    else:
        io.print(*rows([*token_rows(token, now_utc()), ("jwt", token.jwt)]))
    return EXIT_OK


async def run_token(client: AsyncDescopeKeys, args: argparse.Namespace, io: Io) -> int:
    """``descope-keys token [SECRET|-]``: just the JWT, for ``$(descope-keys token)``."""
    credentials = client.credentials(
        args.secret, selected_tenant=args.tenant, audience=args.audience
    )
    token = await credentials.token()
    if io.json:
        write_json(io.out, token_json(token))
    else:
        io.print(token.jwt)
    return EXIT_OK


async def run_validate(client: AsyncDescopeKeys, args: argparse.Namespace, io: Io) -> int:
    """``descope-keys validate JWT|-``: local validation against the project's JWKS."""
    token = await client.validate_token(args.jwt, audience=args.audience)
    if io.json:
        write_json(io.out, token_json(token))
    else:
        io.print("The token is valid: signature, issuer and expiry check out.")
        io.print(*rows(token_rows(token, now_utc())))
    return EXIT_OK
