"""Create reconciliation: undo an access key that an ambiguous create may have made.

The create API has no idempotency key, so after a create attempt whose outcome
is unknown (a timeout, a reset after sending, a 500/502/504) the SDK cannot
simply send it again: if the first attempt landed, there would be two keys,
one of them an orphan whose secret was lost in transit. Instead it looks for
that orphan and deletes it (nobody holds its secret, so nobody can be using
it), and only then retries.

How an orphan is recognised, cheaply and without touching the success path:

* after the failure, one search (narrowed by tenant or bound user when the
  create names them) lists the keys;
* a *candidate* has the same name, roles, tenants, bound user and expiry as
  the request, was created inside the call's time window (in the server's
  clock, read from the search response's ``Date`` header, with two seconds of
  slack for its one-second resolution), and is not a key this client has
  already handed back to a caller;
* before searching, the reconcile waits until no other create of the same
  name by this client is in flight, and repeats the search if one started
  meanwhile, so it never mistakes a sibling call's fresh key for an orphan.

Same-name reconciles of one client run one at a time. When there are no more
candidates than this client has unreconciled ambiguous creates of that name,
every candidate is an orphan of ours: they are deleted and the create is
retried. Otherwise (more candidates, or a search or delete that fails) it
raises :class:`~descope_keys.AmbiguousResultError` listing the candidate ids.

Not covered: a key made by another process, with the same name and the same
attributes, in the same seconds (it would be taken for ours), and an attempt
that the server commits only after the reconcile's search (a request held in
a queue past the client's timeout).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from . import _endpoints
from ._http_date import parse_http_date
from ._retry import Safety
from .errors import AmbiguousResultError, DescopeError, NotFoundError

if TYPE_CHECKING:
    import asyncio  # imported where used: see _retry

    from ._call import Caller
    from ._retry import RetryPolicy
    from ._transport import Response

__all__ = ["CreateLedger", "CreateReconciler", "Fingerprint"]

_log = logging.getLogger("descope_keys")

# createdTime and Date both have one-second resolution, and either may be
# truncated or rounded: allow that much on each side of the window.
_DATE_SLACK = 2.0
# Without a Date header the window is in the client's clock, which may be off.
_CLOCK_SLACK = 5.0
# Far longer than any call's window: an id returned earlier cannot match.
_KNOWN_HORIZON = 900.0
# Searches repeated when sibling creates keep starting during the search.
_MAX_SEARCHES = 4


class _InFlight:
    """Counts one create attempt of ``name`` as in flight (a cheap context manager)."""

    __slots__ = ("_ledger", "_name")

    def __init__(self, ledger: CreateLedger, name: str) -> None:
        self._ledger = ledger
        self._name = name

    def __enter__(self) -> None:
        self._ledger._attempt_started(self._name)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._ledger._attempt_ended(self._name)


class CreateLedger:
    """Per-client bookkeeping of creates, so a reconcile can tell its own orphans.

    Every piece of per-name state is changed here only, through
    :meth:`in_flight` (one attempt) and :meth:`reconciling` (one reconcile),
    and dropped once a name has neither.
    """

    def __init__(self) -> None:
        self._inflight: dict[str, int] = {}
        # Bumped by every attempt start, so a search can tell if one overlapped it.
        self._generation: dict[str, int] = {}
        self._idle: dict[str, asyncio.Event] = {}
        self._known: OrderedDict[str, float] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: dict[str, int] = {}

    def reconciler(
        self, caller: Caller, operation: str, body: Mapping[str, Any]
    ) -> CreateReconciler:
        """The reconcile step for one create call, started now (its time window opens)."""
        return CreateReconciler(caller=caller, operation=operation, body=body, ledger=self)

    def in_flight(self, name: str) -> _InFlight:
        """Context manager around one create attempt for ``name``."""
        return _InFlight(self, name)

    def _attempt_started(self, name: str) -> None:
        self._inflight[name] = self._inflight.get(name, 0) + 1
        self._generation[name] = self._generation.get(name, 0) + 1

    def _attempt_ended(self, name: str) -> None:
        left = self._inflight[name] - 1
        if left:
            self._inflight[name] = left
            return
        del self._inflight[name]
        self._forget(name)
        idle = self._idle.pop(name, None)
        if idle is not None:
            idle.set()

    @contextlib.asynccontextmanager
    async def reconciling(self, name: str) -> AsyncIterator[None]:
        """Hold the turn of one reconcile of ``name``: same-name reconciles run one at a time.

        While it waits for its turn and while it runs, it counts in
        :meth:`pending`, so the reconcile whose turn it is knows how many
        orphans this client may have left under that name.
        """
        import asyncio

        self._pending[name] = self._pending.get(name, 0) + 1
        try:
            lock = self._locks.get(name)
            if lock is None:
                lock = self._locks[name] = asyncio.Lock()
            async with lock:
                yield
        finally:
            left = self._pending[name] - 1
            if left:
                self._pending[name] = left
            else:
                del self._pending[name]
                self._forget(name)
                if (lock := self._locks.get(name)) is not None and not lock.locked():
                    del self._locks[name]

    def pending(self, name: str) -> int:
        """How many reconciles of ``name`` are waiting or running (ambiguous creates)."""
        return self._pending.get(name, 0)

    def _forget(self, name: str) -> None:
        # A reconcile compares generations only while it is pending, so the
        # count of a name that is idle and unreconciled can go: per-name state
        # stays bounded however many distinct names a client creates.
        if name not in self._inflight and name not in self._pending:
            self._generation.pop(name, None)

    def returned(self, key_id: str) -> None:
        """Remember a key id that a create handed back: it is never an orphan."""
        now = time.monotonic()
        known = self._known
        known[key_id] = now
        while known:
            oldest_id, at = next(iter(known.items()))
            if now - at < _KNOWN_HORIZON:
                break
            del known[oldest_id]

    def is_known(self, key_id: str) -> bool:
        """True when a create of this client returned ``key_id``."""
        return key_id in self._known

    def generation(self, name: str) -> int:
        """How many attempts for ``name`` have started so far."""
        return self._generation.get(name, 0)

    async def wait_idle(self, name: str, timeout: float) -> bool:
        """Wait until no create attempt for ``name`` is in flight; False on timeout."""
        import asyncio

        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self._inflight.get(name):
            idle = self._idle.get(name)
            if idle is None:
                idle = self._idle[name] = asyncio.Event()
            try:
                await asyncio.wait_for(idle.wait(), max(0.0, end - loop.time()))
            except asyncio.TimeoutError:
                return False
        return True


_COMPARED_FIELDS = ("description", "customClaims", "permittedIps", "customAttributes")


def _empty_as_none(value: Any) -> Any:
    # The server treats null, empty and missing alike (docs/wire.md §3.1); IP
    # lists are compared as sets since their order carries no meaning.
    if value in (None, "", [], {}):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return value


def _tenant_ids(tenants: Any) -> frozenset[str]:
    if not isinstance(tenants, list):
        return frozenset()
    return frozenset(
        str(t.get("tenantId")) for t in tenants if isinstance(t, Mapping) and t.get("tenantId")
    )


def _role_names(roles: Any) -> frozenset[str]:
    return frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset()


@attrs.frozen
class Fingerprint:
    """What a key that one create request made looks like in a search result.

    Every field the request set must match: a same-name key that another
    client made in the window differs somewhere, unless it is identical in
    every field (then nothing can tell them apart).
    """

    name: str
    roles: frozenset[str]
    tenants: frozenset[str]
    user: str | None
    expire: Any
    others: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Fingerprint:
        """The fingerprint of a create request body."""
        return cls(
            name=str(body["name"]),
            roles=_role_names(body.get("roleNames")),
            tenants=_tenant_ids(body.get("keyTenants")),
            user=body.get("userId") or None,
            expire=body.get("expireTime") or 0,
            others=tuple((f, _empty_as_none(body.get(f))) for f in _COMPARED_FIELDS),
        )

    def matches(self, key: Mapping[str, Any], low: float, high: float) -> bool:
        """True when ``key`` may be this request's, created between ``low`` and ``high``."""
        if key.get("name") != self.name:
            return False
        created = key.get("createdTime")
        # A key without a creation time cannot be placed outside the window.
        if isinstance(created, (int, float)) and not low <= created <= high:
            return False
        return (
            _role_names(key.get("roleNames")) == self.roles
            and _tenant_ids(key.get("keyTenants")) == self.tenants
            and (key.get("boundUserId") or None) == self.user
            and (key.get("expireTime") or 0) == self.expire
            and all(_empty_as_none(key.get(f)) == wanted for f, wanted in self.others)
        )


class CreateReconciler:
    """The reconcile step of one create call (see the module docstring).

    Built just before the call's first attempt, so that its clocks mark the
    start of the call's time window. The ledger makes one per call
    (:meth:`CreateLedger.reconciler`); the access-key operations are handed
    that factory, so a test can put another reconcile in its place.
    """

    def __init__(
        self,
        *,
        caller: Caller,
        operation: str,
        body: Mapping[str, Any],
        ledger: CreateLedger,
    ) -> None:
        self._caller = caller
        self._operation = operation
        self._reconcile_operation = f"{operation}.reconcile"
        self._fingerprint = Fingerprint.of(body)
        self._name = self._fingerprint.name
        self._ledger = ledger
        self._started_wall = time.time()
        self._started = time.monotonic()

    def attempt(self) -> _InFlight:
        """Wraps one create attempt: counted as in flight until it ends.

        So that a sibling's reconcile never mistakes this call's new key for
        an orphan, the attempt records the key it got (:meth:`returned`)
        before it ends.
        """
        return self._ledger.in_flight(self._name)

    def returned(self, key_id: str) -> None:
        """The create handed ``key_id`` back to its caller: it is never an orphan."""
        self._ledger.returned(key_id)

    def _remaining(self) -> float:
        return self._caller.policy.deadline - (time.monotonic() - self._started)

    def _bounded_policy(self) -> RetryPolicy:
        """The call's policy for what is left of its deadline.

        Past the deadline, one bare attempt still runs (no wait, no retry):
        giving up on the reconcile unasked could leave an orphan behind.
        """
        policy = self._caller.policy
        remaining = self._remaining()
        if remaining <= 0.001:
            return attrs.evolve(policy, attempts=1)
        return attrs.evolve(policy, deadline=remaining)

    async def __call__(self, failure: BaseException) -> None:
        """Delete what the failed attempt may have created, or raise ``AmbiguousResultError``."""
        async with self._ledger.reconciling(self._name):
            candidates = await self._candidates()
            pending = self._ledger.pending(self._name)
            if len(candidates) > pending:
                raise self._ambiguous(
                    f"{len(candidates)} keys that this create may have made appeared "
                    f"during the call, more than it could have made; inspect candidate_ids",
                    candidates,
                )
            await self._delete(candidates)

    async def _candidates(self) -> list[str]:
        ledger = self._ledger
        for _ in range(_MAX_SEARCHES):
            if not await ledger.wait_idle(self._name, max(0.0, self._remaining())):
                break
            generation = ledger.generation(self._name)
            response = await self._search()
            if ledger.generation(self._name) == generation:
                return self._matching(response)
        raise self._ambiguous(
            "other creates of the same name kept running, so the keys this one may "
            "have made cannot be told apart",
            [],
        )

    async def _search(self) -> Response:
        search = _endpoints.search_body(
            tenant_ids=sorted(self._fingerprint.tenants), bound_user_id=self._fingerprint.user
        )
        caller = self._caller.with_policy(self._bounded_policy())
        try:
            return await caller.call(
                self._reconcile_operation,
                "POST",
                _endpoints.SEARCH,
                safety=Safety.IDEMPOTENT,
                body=search,
                parse=_whole,
            )
        except DescopeError as exc:  # ClientClosedError too: closed meanwhile
            raise self._ambiguous(
                f"the search for keys it may have made failed ({type(exc).__name__})", []
            ) from exc

    def _window(self, headers: Mapping[str, str]) -> tuple[float, float]:
        elapsed = time.monotonic() - self._started
        server_now = parse_http_date(headers.get("Date"))
        if server_now is None:
            return self._started_wall - _CLOCK_SLACK, time.time() + _CLOCK_SLACK
        return server_now - elapsed - _DATE_SLACK, server_now + _DATE_SLACK

    def _matching(self, response: Response) -> list[str]:
        found = response.body.get("keys") if isinstance(response.body, Mapping) else None
        if not isinstance(found, list):
            raise self._ambiguous("the search for keys it may have made gave no key list", [])
        low, high = self._window(response.headers)
        fingerprint, is_known = self._fingerprint, self._ledger.is_known
        return [
            key_id
            for key in found
            if isinstance(key, Mapping)
            and isinstance(key_id := key.get("id"), str)
            and key_id
            and not is_known(key_id)
            and fingerprint.matches(key, low, high)
        ]

    async def _delete(self, candidates: list[str], *, failed: str | None = None) -> None:
        remaining = list(candidates)
        while remaining:
            key_id = remaining[0]
            caller = self._caller.with_policy(self._bounded_policy())
            try:
                await caller.call(
                    self._reconcile_operation,
                    "POST",
                    _endpoints.DELETE,
                    safety=Safety.DELETE,
                    body={"id": key_id},
                )
            except NotFoundError:
                pass  # gone already: a sibling's reconcile, or an operator, removed it
            except DescopeError as exc:  # ClientClosedError too: closed meanwhile
                why = f"a key it may have made could not be deleted ({type(exc).__name__})"
                raise self._ambiguous(why, remaining, plain=failed) from exc
            remaining.pop(0)
            _log.info(
                "%s: deleted key %s, left behind by an ambiguous attempt",
                self._operation,
                key_id,
                extra={"operation": self._operation, "key_id": key_id},
            )

    async def discard(self, key_id: str, why: str) -> None:
        """Delete a key the create made but cannot return; raise if that fails."""
        await self._delete([key_id], failed=f"{why}, and the key it made could not be deleted")
        _log.info("%s: %s; deleted the key it made", self._operation, why)

    def _ambiguous(
        self, why: str, candidates: list[str], *, plain: str | None = None
    ) -> AmbiguousResultError:
        return AmbiguousResultError(
            plain or f"the create may or may not have taken effect: {why}",
            operation=self._operation,
            candidate_ids=candidates,
        )


def _whole(response: Response) -> Response:
    return response
