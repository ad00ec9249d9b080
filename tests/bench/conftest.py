"""The engine's fixtures (the tiny model, the model cache), for benchmark tests that train."""

from tests.sdft.conftest import models_dir, tiny  # noqa: F401 - fixtures, found by name
