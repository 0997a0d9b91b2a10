"""Bind every scenario of ``features/*.feature`` (the steps live in ``features/conftest.py``)."""

from pytest_bdd import scenarios

scenarios(".")
