"""The global switch for I/O spec checks."""

from __future__ import annotations

import pytest

from specs import checking, is_checking


def test_checks_are_on_by_default():
    assert is_checking()


def test_context_manager_switches_off_and_restores():
    with checking(False) as switch:
        assert isinstance(switch, checking)
        assert not is_checking()
    assert is_checking()


def test_context_manager_restores_after_an_exception():
    with pytest.raises(RuntimeError), checking(False):
        raise RuntimeError("boom")
    assert is_checking()


def test_context_managers_nest():
    with checking(False):
        with checking(True):
            assert is_checking()
            with checking(False):
                assert not is_checking()
            assert is_checking()
        assert not is_checking()
    assert is_checking()


def test_plain_call_sets_the_flag_until_changed():
    checking(False)
    assert not is_checking()
    checking(False)
    assert not is_checking()
    checking(True)
    assert is_checking()


def test_truthy_values_are_coerced():
    with checking(0):  # type: ignore[arg-type]
        assert is_checking() is False
    with checking(1):  # type: ignore[arg-type]
        assert is_checking() is True
