"""The noise colours measured on their real output (60 s, Welch PSD)."""

import shutil
import subprocess

import numpy as np
import pytest
from measure import RATE, colour_metrics

from bedside.audio.synth.noise import BrownNoise, PinkNoise, WhiteNoise

SECONDS = 90


def render(cls, seconds=SECONDS, seed=3):
    source = cls(RATE, np.random.SeedSequence(seed))
    return np.concatenate([source.render(8192) for _ in range(seconds * RATE // 8192)]).astype(np.float64)


@pytest.fixture(scope="module")
def pink():
    return render(PinkNoise)


@pytest.fixture(scope="module")
def brown():
    return render(BrownNoise)


@pytest.mark.parametrize("channel", [0, 1])
def test_pink_slope_and_bands(pink, channel):
    slope, bands, _ = colour_metrics(pink[:, channel], RATE, -3.0103)
    assert abs(slope - -3.0103) <= 0.05
    assert np.all(np.abs(bands) <= 0.5), bands


@pytest.mark.parametrize("channel", [0, 1])
def test_brown_slope_bands_and_no_sub_bass(brown, channel):
    slope, bands, sub20 = colour_metrics(brown[:, channel], RATE, -6.0206)
    assert abs(slope - -6.0206) <= 0.1
    assert np.all(np.abs(bands) <= 0.5), bands
    assert sub20 <= 0.30


def test_white_is_flat():
    white = render(WhiteNoise, seconds=30)
    slope, bands, _ = colour_metrics(white[:, 0], RATE, 0.0)
    assert abs(slope) <= 0.05
    assert np.all(np.abs(bands) <= 0.5)


@pytest.mark.parametrize("cls", [WhiteNoise, PinkNoise, BrownNoise])
def test_no_dc_and_decorrelated_channels(cls):
    x = render(cls, seconds=30)
    assert np.all(np.abs(x.mean(axis=0)) <= 0.005 * x.std(axis=0))
    assert abs(np.corrcoef(x[:, 0], x[:, 1])[0, 1]) <= 0.02


def test_sox_brown_noise_fails_the_same_check():
    """The baseline the brief names: sox's brownnoise misses the slope or the bands. This shows
    the measurement can fail, so the passes above mean something."""
    sox = shutil.which("sox")
    assert sox, "sox is installed by `make test`"
    raw = subprocess.run([sox, "-n", "-r", str(RATE), "-c", "1", "-b", "32", "-e", "float", "-t", "raw", "-",
                          "synth", str(SECONDS), "brownnoise"], capture_output=True, check=True).stdout
    x = np.frombuffer(raw, "<f4").astype(np.float64)
    slope, bands, _ = colour_metrics(x, RATE, -6.0206)
    assert abs(slope - -6.0206) > 0.1 or np.abs(bands).max() > 0.5
