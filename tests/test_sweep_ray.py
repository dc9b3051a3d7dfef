"""fnn.sweep on a local Ray cluster gives every trial the bits of the plain fit.

In a module of its own: starting Ray takes several seconds.
"""

import pytest
from test_sweep import GRID, NET, OPTIONS, X, Y, assert_is_plain_fit, assert_read_only

ray = pytest.importorskip("ray")
import fnn  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_gives_the_plain_fits(local_ray):
    results = fnn.sweep(NET, fnn.adam(), X, Y, GRID, executor="ray", **OPTIONS)
    assert len(results) == 4 * len(OPTIONS["keys"]) * len(OPTIONS["folds"])
    for result in results:
        assert_is_plain_fit(result)
        assert_read_only(result)
