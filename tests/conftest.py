"""Fixtures for the template's tests; what test modules import is in helpers.py."""

import pytest
from helpers import bake_ok


@pytest.fixture
def bake(cookies):
    return lambda **extra: bake_ok(cookies, **extra)
