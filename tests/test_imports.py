"""What each way into the SDK imports, checked in fresh interpreters.

``import descope_keys``, validation with pinned keys and the CLI's answers
that need no network must not load the HTTP stack: it costs more at import
than the whole SDK (issue 14). These tests assert module sets, never times.

To make another dependency lazy (say ``opentelemetry``), add its top-level
name to :data:`LAZY` (or to :data:`HTTP_STACK` if it comes with requests);
the way in that is allowed to load it then says so in its own set.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from tests._jwt_factory import PROJECT_ID, claims, mint, private_key, public_jwk
from tests._sync_support import python

pytestmark = pytest.mark.slow  # each test starts interpreters

#: What the first request brings in (aiohttp and its own dependencies), and
#: tenacity, which only a failed attempt needs.
HTTP_STACK = frozenset(
    {
        "aiohappyeyeballs",
        "aiohttp",
        "aiosignal",
        "frozenlist",
        "multidict",
        "propcache",
        "tenacity",
        "yarl",
    }
)
#: Everything imported on first use only: the HTTP stack, key import
#: (joserfc, cryptography), response parsing (cattrs), the event loop and
#: the standard library's network modules.
LAZY = HTTP_STACK | {"asyncio", "cattrs", "cryptography", "email", "http", "joserfc", "ssl"}

#: What the first key import brings (cryptography's x509 module imports email).
KEY_IMPORT = frozenset({"cryptography", "email", "joserfc"})

#: The third-party packages ``import descope_keys`` loads: exactly these.
IMPORT_THIRD_PARTY = frozenset({"attr", "attrs", "descope_keys"})
#: Validating with a pinned key adds the key import, nothing else.
PINNED_THIRD_PARTY = IMPORT_THIRD_PARTY | {"cryptography", "joserfc"}

# Wraps a child's code: the top-level names of the modules it loaded, as the
# last line of stdout (a command may print before it).
_BEFORE = "import json, sys\n_before = set(sys.modules)\n"
_AFTER = (
    "\nprint()\nprint('MODULES ' + json.dumps(sorted("
    "{m.partition('.')[0] for m in set(sys.modules) - _before})))\n"
)


def _run(code: str, *args: str) -> tuple[frozenset[str], str]:
    """The modules ``code`` loaded in a fresh interpreter, and what it printed before."""
    done = python(_BEFORE + textwrap.dedent(code) + _AFTER, *args)
    assert done.returncode == 0, done.stderr
    printed, _, last = done.stdout.rstrip().rpartition("\n")
    assert last.startswith("MODULES "), done.stdout
    return frozenset(json.loads(last.removeprefix("MODULES "))), printed


def _loaded(code: str, *args: str) -> frozenset[str]:
    return _run(code, *args)[0]


def _third_party(modules: frozenset[str]) -> frozenset[str]:
    # Underscored top-level names are extension modules of a package already
    # listed (cryptography's _openssl, cffi's _cffi_backend), or the stdlib's.
    return frozenset(
        m for m in modules if m not in sys.stdlib_module_names and not m.startswith("_")
    )


def test_import_loads_the_public_names_and_nothing_of_the_network() -> None:
    loaded = _loaded(
        "import descope_keys\n"
        "from descope_keys import AsyncDescopeKeys, DescopeKeys, NotFoundError, AccessKey"
    )
    assert _third_party(loaded) == IMPORT_THIRD_PARTY
    assert not loaded & LAZY


def test_errors_work_without_the_http_stack() -> None:
    # isinstance against the stdlib bases and pickling, as a caller's handler does.
    loaded = _loaded(
        "import pickle\n"
        "from descope_keys import errors, NotFoundError, RequestTimeoutError\n"
        "e = pickle.loads(pickle.dumps(NotFoundError(404, operation='access_keys.load')))\n"
        "assert isinstance(e, errors.ApiError) and e.status == 404\n"
        "assert isinstance(RequestTimeoutError('t', operation='x'), TimeoutError)\n"
    )
    assert not loaded & HTTP_STACK


@pytest.fixture(scope="module")
def pinned() -> tuple[str, str]:
    """A public JWK as JSON and a token it signs."""
    key = private_key()
    return json.dumps(public_jwk(key, "k1")), mint(key, claims(), kid="k1")


def test_sync_validation_with_a_pinned_key_loads_no_http_stack(pinned: tuple[str, str]) -> None:
    loaded = _loaded(
        "from descope_keys import DescopeKeys\n"
        f"with DescopeKeys({PROJECT_ID!r}, public_key=sys.argv[1]) as client:\n"
        "    assert client.validate_token(sys.argv[2]).project_id\n",
        *pinned,
    )
    assert _third_party(loaded) == PINNED_THIRD_PARTY
    # No event loop either: the sync facade validates on the caller's thread.
    assert not loaded & (LAZY - KEY_IMPORT)


def test_async_validation_with_a_pinned_key_loads_no_http_stack(pinned: tuple[str, str]) -> None:
    loaded = _loaded(
        "import asyncio\n"
        "from descope_keys import AsyncDescopeKeys\n"
        "async def main():\n"
        f"    async with AsyncDescopeKeys({PROJECT_ID!r}, public_key=sys.argv[1]) as client:\n"
        "        assert (await client.validate_token(sys.argv[2])).project_id\n"
        "asyncio.run(main())\n",
        *pinned,
    )
    assert _third_party(loaded) == PINNED_THIRD_PARTY
    assert not loaded & (LAZY - KEY_IMPORT - {"asyncio", "ssl"})


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        (["keys", "--help"], 0),
        ([], 2),  # no command: the help, as a usage error
        (["no-such-command"], 2),  # argparse's own usage error
        (["keys"], 2),  # no action
        (["keys", "load", "K1"], 2),  # DESCOPE_PROJECT_ID is not set
        (["validate", "a.b.c"], 2),
    ],
)
def test_cli_answers_without_the_network_stack(argv: list[str], code: int) -> None:
    loaded, printed = _run(
        """
        from descope_keys.cli import main
        try:
            code = main(json.loads(sys.argv[1]))
        except SystemExit as exit:
            code = exit.code
        print()
        print("EXIT", code)
        """,
        json.dumps(argv),
    )
    assert printed.rstrip().endswith(f"EXIT {code}"), printed
    assert not loaded & LAZY, sorted(loaded & LAZY)
    assert _third_party(loaded) == IMPORT_THIRD_PARTY


_FLAKY_SERVER = """
import asyncio
from descope_keys import AsyncDescopeKeys, RetryPolicy

BODY = b'{"key": {"id": "K1", "name": "n"}}'
# One status line per request, in order.
replies = [b"200 OK", b"503 Service Unavailable", b"200 OK"]

async def serve(reader, writer):
    await reader.readuntil(b"\\r\\n\\r\\n")
    head = b"HTTP/1.1 %s\\r\\nContent-Type: application/json\\r\\n" % replies.pop(0)
    writer.write(head + b"Content-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(BODY) + BODY)
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = "http://127.0.0.1:%d" % server.sockets[0].getsockname()[1]
    policy = RetryPolicy(initial_wait=0.001, max_wait=0.002)
    async with AsyncDescopeKeys(sys.argv[1], "mgmt", base_url=url, retry=policy) as client:
        await client.access_keys.load("K1")
        assert "aiohttp" in sys.modules and "tenacity" not in sys.modules, "after a success"
        await client.access_keys.load("K1")  # 503, then a retry
        assert "tenacity" in sys.modules and not replies
    server.close()
    await server.wait_closed()

asyncio.run(asyncio.wait_for(main(), 20))
"""


def test_the_first_request_brings_aiohttp_and_the_first_failure_tenacity() -> None:
    loaded = _loaded(_FLAKY_SERVER, PROJECT_ID)
    assert {"aiohttp", "cattrs", "tenacity", "yarl"} <= loaded
