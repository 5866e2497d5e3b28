"""User recordings: played forever with no seam at the wrap, in a new order every time."""

import numpy as np
import pytest
from measure import RATE, second_difference_spikes
from scipy import signal

from bedside.gain import xfade_in_shape
from bedside.synth.recording import Recording


def recording_with_a_bad_wrap(seconds: float, seed: int = 0) -> np.ndarray:
    """Low-passed noise plus a tone over a slow drift, none of which matches from end to start,
    so that playing it back to back makes an audible jump."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    noise = signal.lfilter([0.05], [1, -0.95], rng.standard_normal((n, 2)), axis=0) * 0.1
    tone = 0.2 * np.sin(2 * np.pi * 331.7 * t)[:, None] * np.linspace(1.0, 0.4, n)[:, None]
    drift = np.linspace(-0.2, 0.2, n)[:, None]
    return (noise + tone + drift).astype(np.float32)


def test_the_seam_check_catches_a_naive_loop():
    data = recording_with_a_bad_wrap(5.0)
    naive = np.concatenate([data] * 4)
    scores = second_difference_spikes(naive, [len(data) * k for k in (1, 2, 3)])
    assert min(scores) > 3


def test_a_short_recording_loops_without_a_seam():
    data = recording_with_a_bad_wrap(5.0)
    source = Recording(data, RATE, np.random.SeedSequence(1))
    out = np.concatenate([source.render(1000) for _ in range(40 * RATE // 1000)])
    crossfade = len(data) // 4
    period = len(data) - crossfade
    joins = [period * k + j for k in range(1, 7) for j in (0, crossfade // 2, crossfade - 1)]
    assert max(second_difference_spikes(out, joins)) < 2
    # Nothing dips or swells through the join: equal power on uncorrelated material.
    level = [np.sqrt(np.mean(out[p:p + RATE // 10] ** 2)) for p in range(0, len(out) - RATE // 10, RATE // 10)]
    assert np.all(np.array(level) > 0.05)


def test_a_long_recording_plays_random_segments_with_smooth_joins():
    data = recording_with_a_bad_wrap(150.0, seed=3)
    source = Recording(data, RATE, np.random.SeedSequence(2))
    out = np.concatenate([source.render(8192) for _ in range(400 * RATE // 8192)])
    assert np.abs(out).max() < 1.0
    d2 = np.abs(np.diff(out, n=2, axis=0)).max(axis=1)
    hop = RATE // 2
    local = [d2[i:i + hop].max() / np.quantile(d2[max(i - 4 * hop, 0):i + 5 * hop], 0.999)
             for i in range(0, len(d2) - hop, hop)]
    assert max(local) < 2  # no seam anywhere in 400 s
    # Another start plays the segments in another order.
    other = Recording(data, RATE, np.random.SeedSequence(3))
    other_out = np.concatenate([other.render(8192) for _ in range(100 * RATE // 8192)])
    assert not np.allclose(out[: len(other_out)], other_out)


def test_crossfade_legs_are_equal_power():
    u = np.linspace(0, 1, 1001)
    rising = 10 ** (-100 * (1 - xfade_in_shape(u)) / 20)
    assert np.allclose(rising**2 + rising[::-1] ** 2, 1.0, atol=1e-6)


def test_too_short_a_recording_is_refused():
    with pytest.raises(ValueError, match="half a second"):
        Recording(np.zeros((100, 2), np.float32), RATE, np.random.SeedSequence(0))
