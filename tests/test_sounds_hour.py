"""An hour of every built-in sound at maximum volume: no clipping, matched loudness, no repetition."""

import numpy as np
import pytest
from measure import envelope_autocorrelation

from bedside.sounds import TARGET_LUFS, builtin_sounds

#: An hour of each of the sounds: 4.5 minutes on two cores, so `make test-long`, not `make test`.
pytestmark = pytest.mark.long

NOISES = ("white", "pink", "brown")
NATURAL = tuple(name for name in builtin_sounds() if name not in NOISES)


@pytest.mark.parametrize("name", list(builtin_sounds()))
def test_an_hour_at_full_volume_never_reaches_full_scale(hour_of_each_sound, name):
    stats = hour_of_each_sound[name]
    assert stats["full_scale"] == 0
    # The safety limiter exists so that nothing can clip; calibration keeps it almost idle.
    assert stats["limited"] / stats["samples"] < 1e-5, f"limiter touched {stats['limited']} samples"


@pytest.mark.parametrize("name", list(builtin_sounds()))
def test_every_sound_is_equally_loud_at_the_same_volume(hour_of_each_sound, name):
    tolerance = 0.3 if name in NOISES else 1.0  # natural sounds wander by design
    assert abs(hour_of_each_sound[name]["lufs"] - TARGET_LUFS) <= tolerance


@pytest.mark.parametrize("name", ["thunderstorm", "distant-thunder"])
def test_thunder_stays_distant(hour_of_each_sound, name):
    """A storm is for sleeping: no 3 s of an hour more than 6 LU above the hour's loudness."""
    stats = hour_of_each_sound[name]
    assert stats["short_term_lufs"].max() - stats["lufs"] <= 6.0


@pytest.mark.parametrize("name", list(builtin_sounds()))
def test_any_ten_minutes_are_as_loud_as_the_target(hour_of_each_sound, name):
    """Switching sounds at one volume never jumps more than 1.5 LU: every 10 minutes of every
    sound (sliding through the hour) within 0.75 LU of the target."""
    ten = hour_of_each_sound[name]["ten_minute_lufs"]
    assert np.abs(ten - TARGET_LUFS).max() <= 0.75, f"{ten.min():.2f} … {ten.max():.2f} LUFS"


@pytest.mark.parametrize("name", NATURAL)
def test_natural_sounds_never_repeat(hour_of_each_sound, name):
    stats = hour_of_each_sound[name]
    acf = envelope_autocorrelation(stats["envelope"], stats["envelope_window_s"], (20, 300))
    assert acf.max() <= 0.3, f"log-envelope autocorrelation reaches {acf.max():.2f}"


def test_the_repetition_check_catches_a_loop(hour_of_each_sound):
    """The same measure on a 60 s loop of surf finds the loop: the check can fail."""
    stats = hour_of_each_sound["surf"]
    window = stats["envelope_window_s"]
    loop = stats["envelope"][: int(60 / window)]
    looped = np.tile(loop, 15)
    acf = envelope_autocorrelation(looped, window, (20, 300))
    assert acf.max() > 0.9
