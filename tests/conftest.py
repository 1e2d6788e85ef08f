"""Shared fixtures: a tiny random chat model built inside the tests (no network, no downloads)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tiny import CHATML, ScriptedEngine, build_tiny_model  # noqa: F401 - shared with tests

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir):
    from reflectrl.models import load_model

    return load_model(str(tiny_model_dir), dtype="fp32", device="cpu")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep each test session's caches out of the user's home, except the slow default-model test."""
    if "REFLECTRL_TEST_CACHE" not in os.environ:
        os.environ["REFLECTRL_TEST_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    monkeypatch.setenv("REFLECTRL_CACHE", os.environ["REFLECTRL_TEST_CACHE"])
