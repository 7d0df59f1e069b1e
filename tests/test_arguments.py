"""Bad input is rejected before any I/O, naming the argument."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from descope_keys import (
    AccessKey,
    AccessKeyStatus,
    AsyncDescopeKeys,
    ConfigurationError,
    InvalidArgumentError,
    KeyTenant,
)
from descope_keys._arguments import check_collection, check_number
from tests._aioresponses_compat import compat_aioresponses

Call = Callable[[AsyncDescopeKeys], Awaitable[Any]]

CASES: list[tuple[str, Call, str]] = [
    ("empty name", lambda c: c.access_keys.create(""), "name"),
    ("blank name", lambda c: c.access_keys.create("   "), "name"),
    ("non-string name", lambda c: c.access_keys.create(7), "name"),  # type: ignore[arg-type]
    (
        "naive expiry",
        lambda c: c.access_keys.create("n", expire_time=datetime(2999, 1, 1)),
        "expire_time",
    ),
    (
        "past expiry",
        lambda c: c.access_keys.create("n", expire_time=datetime(2000, 1, 1, tzinfo=timezone.utc)),
        "expire_time",
    ),
    (
        "negative duration",
        lambda c: c.access_keys.create("n", expire_time=timedelta(seconds=-1)),
        "expire_time",
    ),
    (
        "epoch int expiry",
        lambda c: c.access_keys.create("n", expire_time=1_900_000_000),  # type: ignore[arg-type]
        "expire_time",
    ),
    (
        "roles and tenants together",
        lambda c: c.access_keys.create("n", role_names=["a"], key_tenants=[KeyTenant("T")]),
        "role_names",
    ),
    (
        "role names as one string",
        lambda c: c.access_keys.create("n", role_names="admin"),  # type: ignore[arg-type]
        "role_names",
    ),
    (
        "tenant not a KeyTenant",
        lambda c: c.access_keys.create("n", key_tenants=[{"tenantId": "T"}]),  # type: ignore[list-item]
        "key_tenants[0]",
    ),
    (
        "empty tenant id",
        lambda c: c.access_keys.create("n", key_tenants=[KeyTenant("")]),
        "key_tenants[0].tenant_id",
    ),
    (
        "malformed ip",
        lambda c: c.access_keys.create("n", permitted_ips=["10.0.0.300"]),
        "permitted_ips[0]",
    ),
    (
        "malformed cidr",
        lambda c: c.access_keys.create("n", permitted_ips=["10.0.0.1", "10.0.0.0/33"]),
        "permitted_ips[1]",
    ),
    (
        "ips as one string",
        lambda c: c.access_keys.create("n", permitted_ips="10.0.0.1"),  # type: ignore[arg-type]
        "permitted_ips",
    ),
    (
        "non-json claims",
        lambda c: c.access_keys.create("n", custom_claims={"a": object()}),
        "custom_claims",
    ),
    (
        "nan claim",
        lambda c: c.access_keys.create("n", custom_claims={"a": float("nan")}),
        "custom_claims",
    ),
    (
        "too many claims",
        lambda c: c.access_keys.create("n", custom_claims={f"c{i}": i for i in range(101)}),
        "custom_claims",
    ),
    (
        "claim name too long",
        lambda c: c.access_keys.create("n", custom_claims={"x" * 61: 1}),
        "custom_claims",
    ),
    (
        "claim value too long",
        lambda c: c.access_keys.create("n", custom_claims={"x": "y" * 501}),
        "custom_claims",
    ),
    (
        "non-string attribute keys",
        lambda c: c.access_keys.create("n", custom_attributes={1: "a"}),  # type: ignore[dict-item]
        "custom_attributes",
    ),
    ("empty load id", lambda c: c.access_keys.load(""), "key_id"),
    ("none load id", lambda c: c.access_keys.load(None), "key_id"),  # type: ignore[arg-type]
    ("empty update id", lambda c: c.access_keys.update("", name="n"), "key_id"),
    ("empty update name", lambda c: c.access_keys.update("K1", name=""), "name"),
    (
        "bad update ip",
        lambda c: c.access_keys.update("K1", name="n", permitted_ips=["nope"]),
        "permitted_ips[0]",
    ),
    ("empty activate id", lambda c: c.access_keys.activate(""), "key_id"),
    ("empty deactivate id", lambda c: c.access_keys.deactivate(""), "key_id"),
    ("empty delete id", lambda c: c.access_keys.delete(""), "key_id"),
    ("empty rotate id", lambda c: c.access_keys.rotate(""), "key_id"),
    ("empty id list", lambda c: c.access_keys.delete_many([]), "key_ids"),
    ("id list as string", lambda c: c.access_keys.activate_many("K1"), "key_ids"),
    ("empty id in list", lambda c: c.access_keys.deactivate_many(["K1", ""]), "key_ids[1]"),
    (
        "too many ids",
        lambda c: c.access_keys.delete_many([f"K{i}" for i in range(1001)]),
        "key_ids",
    ),
    (
        "search tenants as string",
        lambda c: c.access_keys.search(tenant_ids="T1"),  # type: ignore[arg-type]
        "tenant_ids",
    ),
    ("empty exchange secret", lambda c: c.exchange_access_key(""), "access_key"),
    ("secret with a newline", lambda c: c.exchange_access_key("K1:secret\n"), "access_key"),
    ("secret with a space", lambda c: c.exchange_access_key("K1 secret"), "access_key"),
    (
        "bad exchange claims",
        lambda c: c.exchange_access_key("s", custom_claims={"a": {1, 2}}),
        "custom_claims",
    ),
    (
        "empty selected tenant",
        lambda c: c.exchange_access_key("s", selected_tenant=""),
        "selected_tenant",
    ),
]


@pytest.mark.parametrize(("case", "call", "argument"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_is_rejected_before_io_naming_the_argument(
    client: AsyncDescopeKeys,
    mocked: compat_aioresponses,
    case: str,
    call: Call,
    argument: str,
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        await call(client)
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")
    assert isinstance(info.value, ValueError)
    assert mocked.requests == {}


# -- numeric settings: one validator ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (True, "must be a finite number of seconds > 0, not bool"),
        ("5", "must be a finite number of seconds > 0, not str"),
        (None, "must be a finite number of seconds > 0, not NoneType"),
        (0, "must be a finite number of seconds > 0, not 0"),
        (-1.5, "must be a finite number of seconds > 0, not -1.5"),
        (math.nan, "must be a finite number of seconds > 0, not nan"),
        (math.inf, "must be a finite number of seconds > 0, not inf"),
        (10**400, "must be a finite number of seconds > 0, not a number that large"),
    ],
)
def test_a_numeric_setting_names_its_field_and_its_bounds(value: object, problem: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_number("wait", value, minimum=0, exclusive_minimum=True, unit="seconds")
    assert info.value.argument == "wait"
    assert str(info.value) == f"wait: {problem}"


def test_a_numeric_setting_within_bounds_comes_back_as_a_float() -> None:
    assert check_number("wait", 3, minimum=0) == 3.0
    assert type(check_number("wait", 3, minimum=0)) is float
    assert check_number("wait", 0, minimum=0) == 0.0
    assert check_number("leeway", 3600, minimum=0, maximum=3600) == 3600.0


def test_an_integer_setting_refuses_floats_and_keeps_its_type() -> None:
    assert check_number("attempts", 10**400, minimum=1, integer=True) == 10**400
    with pytest.raises(
        InvalidArgumentError, match=r"^attempts: must be an integer >= 1, not float$"
    ):
        check_number("attempts", 2.0, minimum=1, integer=True)


@pytest.mark.parametrize("leeway", [-1, 3600.5, 4000, math.nan, math.inf, True, "5"])
def test_one_leeway_rule_for_the_client_and_the_validator(leeway: object) -> None:
    from descope_keys._tokens import TokenValidator
    from tests._jwt_factory import private_key, public_jwk

    with pytest.raises(ConfigurationError) as by_client:
        AsyncDescopeKeys("P1", leeway=leeway)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as by_validator:
        TokenValidator(
            "P1",
            fetch=None,
            leeway=leeway,
            public_key=public_jwk(private_key(0), "k1"),  # type: ignore[arg-type]
        )
    assert str(by_client.value) == str(by_validator.value)
    assert str(by_client.value).startswith(
        "leeway: must be a finite number of seconds >= 0 and <= 3600"
    )


@pytest.mark.parametrize("leeway", [0, 0.5, 3600])
def test_leeway_at_its_bounds_is_accepted(leeway: float) -> None:
    AsyncDescopeKeys("P1", leeway=leeway)


# -- "a list, not a string" -------------------------------------------------------


@pytest.mark.parametrize("values", ["admin", b"admin", 5, None])
def test_a_collection_argument_refuses_strings_and_non_iterables(values: object) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_collection("role_names", values, what="role names")
    assert str(info.value).startswith("role_names: must be a list of role names, not ")


@pytest.mark.parametrize("values", [["a"], ("a",), {"a"}, iter(["a"]), {"a": 1}.keys()])
def test_a_collection_argument_takes_any_other_iterable(values: object) -> None:
    assert list(check_collection("role_names", values, what="role names")) == ["a"]


@pytest.mark.parametrize(
    ("build", "argument"),
    [
        (lambda: KeyTenant("T1", role_names=5), "role_names"),  # type: ignore[arg-type]
        (lambda: AccessKey("K1", permitted_ips=5), "permitted_ips"),  # type: ignore[arg-type]
        (lambda: AccessKey("K1", key_tenants="T1"), "key_tenants"),  # type: ignore[arg-type]
        (lambda: AccessKey("K1", custom_claims=[1]), "custom_claims"),  # type: ignore[arg-type]
        (lambda: AccessKey("K1", custom_attributes=5), "custom_attributes"),  # type: ignore[arg-type]
        (lambda: AccessKeyStatus(5), "status"),  # type: ignore[arg-type]
    ],
)
def test_values_refuse_unusable_fields_naming_them(
    build: Callable[[], object], argument: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        build()
    assert info.value.argument == argument


def test_a_role_name_given_as_one_string_is_still_one_role() -> None:
    assert KeyTenant("T1", role_names="admin").role_names == ("admin",)  # type: ignore[arg-type]
