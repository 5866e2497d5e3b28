"""The noise colours measured on their real output (60 s, Welch PSD)."""

import shutil
import subprocess

import numpy as np
import pytest
from measure import RATE, colour_metrics

from bedside.audio.synth import noise
from bedside.audio.synth.noise import BrownNoise, PinkNoise, WhiteNoise
from bedside.sounds import builtin_sounds

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


def test_noise_blocks_are_float32_frames_in_c_order_from_any_fft_layout():
    """numpy 1.x (a Pi's, from Debian) hands an inverse FFT along the frames back column-major in
    float64; the frames passed on are interleaved float32 on every numpy, the same values, so no
    later pass over them (the encoder's) runs strided. `make test-bookworm` runs this on numpy 1.24."""
    column_major = np.asfortranarray(np.random.default_rng(1).standard_normal((4096, 2)))
    frames = noise._float32_frames(column_major)
    assert frames.dtype == np.float32 and frames.flags.c_contiguous
    np.testing.assert_array_equal(frames, column_major.astype(np.float32))
    source = BrownNoise(RATE, np.random.SeedSequence(1))
    block = source._next_block()
    assert block.dtype == np.float32 and block.flags.c_contiguous


@pytest.mark.parametrize("name", sorted(builtin_sounds()))
def test_every_sound_hands_on_float32_frames_in_c_order(name):
    """Through every layer and mix: on numpy 1.24 the tree before failed this for 20 of 22 sounds."""
    source = builtin_sounds()[name].make(RATE, np.random.SeedSequence(2))
    for frames in (4096, 16384, 40000):
        out = source.render(frames)
        assert out.shape == (frames, 2) and out.dtype == np.float32 and out.flags.c_contiguous, (
            frames, out.dtype, out.flags.c_contiguous)
