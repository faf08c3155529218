"""Shared fixtures: a model registry in a temporary folder that contains a real trained model, and torch thread counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genre_core.config import load_config, save_config

# Enough epochs (with the default cosine schedule) to beat most-popular on validation.
TEST_EPOCHS = 12


@pytest.fixture(scope="session")
def trained_config(tmp_path_factory) -> Path:
    """A config file whose registry, in a temporary folder, contains a model trained for TEST_EPOCHS epochs.

    The model is the default config (MovieLens-100k from recbole, all-MiniLM-L6-v2 text
    vectors). Prepared data and cached text vectors are shared with the repository's
    data/ and cache/ folders, so only the first test session on a machine encodes titles.
    """
    from genre_core.pipeline import train

    root = tmp_path_factory.mktemp("genre")
    config = load_config(None, {"training.epochs": TEST_EPOCHS, "paths.registry_dir": str(root / "models")})
    train(config, progress=False)
    path = root / "movielens.yaml"
    save_config(config, path)
    return path


@pytest.fixture
def empty_registry_config(tmp_path) -> Path:
    """A config file whose registry folder contains no model."""
    config = load_config(None, {"paths.registry_dir": str(tmp_path / "models")})
    path = tmp_path / "movielens.yaml"
    save_config(config, path)
    return path


@pytest.fixture
def stamps_installed() -> None:
    """Fail, naming the package, when the Tux Paint stamps that the media tests read are not installed."""
    from genre_core.data.tuxpaint import DEBIAN_PACKAGE, STAMPS_DIR

    if not STAMPS_DIR.is_dir():
        pytest.fail(f"{STAMPS_DIR} is missing; install the Debian package with "
                    f"`apt-get install --no-install-recommends {DEBIAN_PACKAGE}` or run `make test-deps`")


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def torch_threads(request):
    """Run torch on 1 and on 2 threads: with 2 the scoring kernel may split a chunk between them."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)
