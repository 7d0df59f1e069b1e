"""Secret: the masked wrapper that carries secrets on the request path."""

from __future__ import annotations

import copy
import logging
import pickle

import pytest

from descope_keys import InvalidArgumentError, Secret
from descope_keys._secret import conceal, reveal

VALUE = "K2-very-SECRET-value-0001"


def test_repr_str_and_format_are_masked() -> None:
    secret = Secret(VALUE)
    for text in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "{}".format(secret),  # noqa: UP032
        f"{secret:>40}",
    ):
        assert VALUE not in text
        assert "*" in text
    assert repr([secret]) == "[Secret('**********')]"


def test_the_value_comes_back_only_on_request() -> None:
    secret = Secret(VALUE)
    assert secret.reveal() == VALUE
    assert reveal(secret) == VALUE
    assert reveal(VALUE) == VALUE
    assert len(secret) == len(VALUE)
    assert secret
    assert not Secret("")


def test_equality_compares_values_and_nothing_hashes() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret(VALUE + "x")
    assert Secret(VALUE) != VALUE  # a bare string is not a Secret
    with pytest.raises(TypeError):
        hash(Secret(VALUE))


def test_it_is_read_only_and_never_pickled_or_copied() -> None:
    secret = Secret(VALUE)
    with pytest.raises(AttributeError):
        secret._value = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        copy.deepcopy(secret)
    assert not hasattr(secret, "__dict__")


def test_only_strings_are_held() -> None:
    with pytest.raises(InvalidArgumentError, match="value: must be a string, not bytes"):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_conceal_wraps_strings_and_passes_the_rest() -> None:
    assert isinstance(conceal(VALUE), Secret)
    wrapped = Secret(VALUE)
    assert conceal(wrapped) is wrapped
    assert conceal(None) is None
    assert conceal(5) == 5


def test_logging_a_secret_shows_the_mask(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("test_secret").info("key %s / %r", Secret(VALUE), Secret(VALUE))
    assert VALUE not in caplog.text
