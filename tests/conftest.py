"""Shared test settings: Hypothesis without deadlines (the first call of a kernel compiles)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fnn",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("fnn")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
