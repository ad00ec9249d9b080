"""Engine fixtures: the tiny random model (built in code, SmolLM2 tokenizer) and the model cache.

The cache is the app's default `./data/models`: the tokenizer (and, for slow tests, SmolLM2's
safetensors) is converted from the packaged GGUF once and reused by later runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def models_dir() -> Path:
    path = REPO_ROOT / "data" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture()
def tiny(models_dir: Path):  # noqa: ANN201 - LoadedModel, imported lazily to keep collection cheap
    """A fresh tiny model per test (training changes it in place)."""
    from worker.sdft.models import load_model

    return load_model("tiny", models_dir=models_dir)
