import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

# Before numpy (measure imports it), as in the appliance: bedside holds numpy's BLAS to one thread.
# On several threads it sums in another order, and a seed's samples would differ in the last bit
# from those of a `bedside` child process, where tests compare bytes.
import bedside  # noqa: F401

sys.path.insert(0, str(Path(__file__).parent))

from measure import render_hour_stats

from bedside.sounds import builtin_sounds


def _stats(name: str) -> tuple[str, dict]:
    return name, render_hour_stats(builtin_sounds()[name])


@pytest.fixture(scope="session")
def hour_of_each_sound() -> dict[str, dict]:
    """One hour of every built-in sound at maximum volume, rendered once for several tests
    (on both cores: it is the suite's longest step)."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(_stats, list(builtin_sounds())))
