"""What the public value classes make of loose input when built by hand."""

from __future__ import annotations

import pytest

from descope_keys import AccessKey, AccessKeyStatus, InvalidArgumentError, KeyTenant


def test_role_names_and_ips_accept_none_one_string_or_an_iterable() -> None:
    assert KeyTenant("T1", role_names=None).role_names == ()
    assert KeyTenant("T1", role_names="Admin").role_names == ("Admin",)
    assert KeyTenant("T1", role_names=["a", "b"]).role_names == ("a", "b")
    key = AccessKey(id="K1", permitted_ips="10.0.0.1", role_names=iter(["r"]))
    assert key.permitted_ips == ("10.0.0.1",)
    assert key.role_names == ("r",)


def test_an_unknown_status_string_is_kept_and_the_same_member_each_time() -> None:
    first = AccessKeyStatus("suspended")
    assert first.value == "suspended"
    assert str(first) == "suspended"
    assert AccessKeyStatus("suspended") is first
    assert first not in (AccessKeyStatus.ACTIVE, AccessKeyStatus.INACTIVE)


@pytest.mark.parametrize("value", [1, None, b"active"])
def test_a_status_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(InvalidArgumentError, match="status: must be a string") as caught:
        AccessKeyStatus(value)
    assert caught.value.argument == "status"
