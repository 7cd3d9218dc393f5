"""Fixtures of the operator tests."""

from __future__ import annotations

import pytest

from tests.helpers.fields import write_steady


@pytest.fixture(scope="module")
def steady(tmp_path_factory):
    """A steady 16x16 periodic dataset of 16 samples (input ``a``, outputs ``u``, ``v``)."""
    return write_steady(tmp_path_factory.mktemp("d") / "s.h5", n=16, res=16)
