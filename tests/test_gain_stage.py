"""The gain stage, probed with a constant signal: no zipper, no click, exact silence, exact timing."""

import math

import numpy as np
import pytest
from measure import RATE

from bedside.audio.engine import LIMIT_CEILING, Engine
from bedside.audio.gain import SILENCE_DB, VolumeScale
from bedside.audio.pcm import DITHER_TABLE, Encoder

ZIPPER_DB = 0.01


class Constant:
    """A probe source: the value 0.25 on both channels, so the output is the gain itself."""

    def render(self, frames):
        return np.full((frames, 2), 0.25, np.float32)


class Tone:
    """A 4 kHz probe at 0.25: what a low-pass does to it shows as its level."""

    def __init__(self):
        self.t = 0

    def render(self, frames):
        x = 0.25 * np.sin(2 * np.pi * 4000 * (self.t + np.arange(frames)) / RATE)
        self.t += frames
        return np.repeat(x[:, None], 2, axis=1).astype(np.float32)


def run(engine: Engine, seconds: float, block: int = 1000) -> np.ndarray:
    frames = engine.seconds(seconds)
    out = [engine.render(min(block, frames - i)) for i in range(0, frames, block)]
    return np.concatenate(out)[:, 0].astype(np.float64)


def largest_step_db(gain: np.ndarray) -> float:
    """The largest change between consecutive non-zero samples, in dB."""
    nz = gain[gain != 0]
    return float(np.abs(np.diff(20 * np.log10(np.abs(nz)))).max()) if len(nz) > 1 else 0.0


def started(volume=100) -> Engine:
    engine = Engine(RATE, volume=volume)
    engine.play("probe", Constant(), fade_in=3.0)
    return engine


def test_fade_in_is_smooth_and_lasts_three_seconds():
    engine = started()
    out = run(engine, 4)
    assert largest_step_db(out) <= ZIPPER_DB
    assert out[0] == 0.0 or 20 * math.log10(out[0] / 0.25) < -90
    assert abs(out[engine.seconds(3)] - 0.25) < 1e-6  # full level at 3 s
    assert out[engine.seconds(1.5)] < 0.25 * 10 ** (-40 / 20)  # still far down half-way (dB-linear)


@pytest.mark.parametrize(("start", "end"), [(100, 1), (1, 100), (50, 51), (30, 0), (0, 70)])
def test_volume_changes_ramp_without_zipper_and_take_at_least_30ms(start, end):
    engine = started(volume=start)
    run(engine, 3.5)
    engine.set_volume(end)
    out = run(engine, 1.0)
    assert largest_step_db(out) <= ZIPPER_DB
    target = 0.0 if end == 0 else 0.25 * 10 ** (VolumeScale().to_db(end) / 20)
    changing = np.nonzero(np.abs(out - target) > 1e-9)[0]
    duration = (changing[-1] + 1) / RATE
    assert duration >= 0.030
    assert np.all(out[changing[-1] + 1:] == pytest.approx(target, abs=1e-9))
    if end == 0:
        assert np.all(out[-RATE // 2:] == 0.0)  # volume 0 is true silence


class Peaked(Constant):
    """The probe with the peak a synthesis feed reports for what it made (a bound, like a Feed's)."""

    def __init__(self, peak: float) -> None:
        self.peak = peak


@pytest.mark.parametrize("block", [512, 1000])
def test_a_detent_is_the_volume_ramp_sample_by_sample_and_scans_for_peaks_only_where_one_can_reach_the_limiter(
        monkeypatch, block):
    """While only the volume moves (a knob detent's 30 ms ramp), each sample is the source times the
    gain of the ramp's dB at that sample, in any partition; the limiter's scan is skipped where the
    source's peak times the ramp's largest gain in the block stays under its threshold, and done
    where it does not (a detent's ramp used to take the general mix path: a dozen numpy calls a
    period, and a scan every period)."""
    from bedside.audio import engine as engine_module
    from bedside.audio.gain import Ramp

    scans = []
    real_limit = engine_module.soft_limit
    monkeypatch.setattr(engine_module, "soft_limit", lambda out: scans.append(len(out)) or real_limit(out))
    for peak, scanned in ((0.25, False), (50.0, True)):
        engine = Engine(RATE, volume=60)
        engine.play("probe", Peaked(peak), fade_in=0.5)
        run(engine, 1.0, block)
        scans.clear()
        t0, scale = engine.now, engine.volume_scale
        engine.set_volume(61)
        out = run(engine, 0.1, block)
        ramp = Ramp.hold(scale.to_db(60))
        ramp.move(t0, scale.to_db(61), engine.seconds(0.030))
        expected = 0.25 * 10 ** (np.array([ramp.level_at(t) for t in range(t0, t0 + len(out))]) / 20)
        assert np.allclose(out, expected, rtol=3e-7, atol=0), np.abs(out / expected - 1).max()
        assert out[0] < out[engine.seconds(0.030)] and out[engine.seconds(0.030)] == out[-1]  # it moved, then held
        assert bool(scans) == scanned, scans


def test_crossfade_is_equal_power_and_each_leg_is_smooth():
    engine = Engine(RATE, volume=100)
    engine.play("a", Constant(), fade_in=0.5)
    run(engine, 1)
    start = engine.now
    engine.play("b", Constant(), crossfade=2.0)
    legs = [v.envelope for v in engine.voices]
    t = np.arange(start, start + engine.seconds(2.5))
    gains = [10 ** (np.asarray([leg.level_at(int(i)) for i in t[::50]]) / 20) for leg in legs]
    assert np.allclose(gains[0] ** 2 + gains[1] ** 2, 1.0, atol=1e-6)  # constant power throughout
    for g in gains:
        steps = np.abs(np.diff(20 * np.log10(g[g > 0]))) / 50
        assert steps.max() <= ZIPPER_DB
    out = run(engine, 2.5)
    assert largest_step_db(out) <= ZIPPER_DB
    assert engine.current == "b" and len(engine.voices) == 1


def test_stop_fades_out_smoothly_to_exact_zeros():
    engine = started()
    run(engine, 3.5)
    engine.stop(fade=2.0)
    out = run(engine, 3.0)
    assert largest_step_db(out) <= ZIPPER_DB
    assert np.all(out[engine.seconds(2.0):] == 0.0)
    assert out[engine.seconds(2.0) - 1] != 0.0
    assert not engine.audible


def test_a_stop_during_a_long_fade_ends_it_sooner_smoothly_and_never_later():
    """A shutdown (0.4 s) 1 s into a 60 s OFF fade is silent 0.4 s later, from the level it had
    reached; a stop that would end after the fade playing changes nothing."""
    engine = started()
    run(engine, 3.5)
    engine.stop(fade=60.0)
    run(engine, 1.0)
    engine.stop(fade=0.4)
    out = run(engine, 1.0)
    assert largest_step_db(out) <= ZIPPER_DB  # 98 dB to go: lengthened to 0.51 s to stay smooth
    reached_db = SILENCE_DB / 60  # a second into the long fade, linear in dB
    assert abs(20 * math.log10(out[0] / 0.25) - reached_db) < 0.05  # no jump: on from where it was
    silent_from = int(np.argmax(out == 0.0))
    assert engine.seconds(0.4) <= silent_from <= engine.seconds(0.52) and np.all(out[silent_from:] == 0.0)
    assert not engine.audible

    engine, twin = started(), started()
    for each in (engine, twin):
        run(each, 3.5)
        each.stop(fade=2.0)
        run(each, 1.0)
    engine.stop(fade=5.0)  # ends 4 s after the fade playing would: not lengthened
    assert np.array_equal(run(engine, 1.5), run(twin, 1.5))
    assert not engine.audible


def test_volume_scale():
    scale = VolumeScale(-60.0, 0.0)
    assert scale.to_db(0) == -math.inf
    assert scale.to_db(1) == -60.0
    assert scale.to_db(100) == 0.0
    steps = np.diff([scale.to_db(v) for v in range(1, 101)])
    assert np.allclose(steps, 60 / 99)  # equal steps in dB: fine control at the quiet end
    with pytest.raises(ValueError):
        scale.to_db(101)


def test_sleep_fade_is_linear_in_db_and_ends_in_zeros_on_the_sample():
    engine = started(volume=80)
    run(engine, 4)
    expiry = engine.now + engine.seconds(60)
    fade = engine.seconds(40)
    engine.set_sleep_timer(expiry, fade)
    begin = engine.now
    out = run(engine, 70)
    level = 20 * np.log10(0.25 * 10 ** (VolumeScale().to_db(80) / 20))
    fade_start = expiry - fade - begin
    assert np.allclose(out[:fade_start], out[0])  # full level until the fade begins
    t = np.arange(fade_start, expiry - begin)
    target = level + (-100.0 - (level - 20 * np.log10(0.25))) * (t - fade_start) / fade
    realised = 20 * np.log10(np.maximum(out[t], 1e-30))
    audible = target >= level - 60
    assert np.abs(realised[audible] - target[audible]).max() <= 0.25
    assert largest_step_db(out) <= ZIPPER_DB
    assert out[expiry - begin - 1] != 0.0
    assert np.all(out[expiry - begin:] == 0.0)
    assert engine.events.popleft() == ("timer_expired", expiry)
    assert not engine.audible


def test_output_does_not_depend_on_block_size():
    from bedside.sounds import builtin_sounds

    for name in ("pink", "rain", "fan"):
        sound = builtin_sounds()[name]
        outs = []
        for block in (256, 4801):
            engine = Engine(RATE, volume=70)
            engine.play(name, sound.make(RATE, np.random.SeedSequence(5)), sound.calibration_db)
            engine.set_sleep_timer(engine.seconds(8), engine.seconds(4), darken=True)
            outs.append(np.concatenate([engine.render(block) for _ in range(engine.seconds(9) // block)]))
        n = min(len(o) for o in outs)
        np.testing.assert_allclose(outs[0][:n], outs[1][:n], atol=1e-6)


def spectral_centroid(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float((spectrum * freqs).sum() / spectrum.sum())


@pytest.mark.parametrize("level", [0.3, 0.6, 0.95])
def test_a_crossfade_between_fed_sources_gives_the_same_samples_as_between_plain_ones(level):
    """A crossfade skips the limiter's scan when the feeds' peaks times both legs' largest gains
    stay under its threshold. At 0.6 the two legs' sum passes 0.8 mid-crossfade (equal power: each
    leg at 0.71): the scan must run there, and give what plain sources (peak unknown) give."""
    from bedside.audio.synthesis import Feed

    engines = Engine(RATE, volume=100), Engine(RATE, volume=100)
    feeds = Feed(Loud(level)), Feed(Loud(level))
    for feed in feeds:
        for _ in range(200):
            feed.fill(2048)
    fed, plain = engines
    fed.play("a", feeds[0], fade_in=0.1)
    plain.play("a", Loud(level), fade_in=0.1)
    before = run(fed, 1.0, block=512), run(plain, 1.0, block=512)
    fed.play("b", feeds[1], crossfade=2.0)
    plain.play("b", Loud(level), crossfade=2.0)
    a, b = run(fed, 3.0, block=512), run(plain, 3.0, block=512)
    assert np.array_equal(before[0], before[1]) and np.array_equal(a, b)
    assert (fed.limited_samples > 0) == (level > 0.8 / 2 ** 0.5)
    assert np.abs(a).max() <= 0.97


@pytest.mark.parametrize("darken", [False, True])
def test_sleep_fade_can_darken_the_sound(darken):
    from bedside.sounds import builtin_sounds

    sound = builtin_sounds()["pink"]
    engine = Engine(RATE, volume=100)
    engine.play("pink", sound.make(RATE, np.random.SeedSequence(1)), sound.calibration_db, fade_in=0.0)
    engine.set_sleep_timer(engine.seconds(30), engine.seconds(20), darken=darken)
    out = np.concatenate([engine.render(1000) for _ in range(engine.seconds(30) // 1000)])[:, 0]
    before = spectral_centroid(out[engine.seconds(5):engine.seconds(9)])
    during = spectral_centroid(out[engine.seconds(18):engine.seconds(20)])
    if darken:
        assert during < 0.5 * before  # the low-pass has glided well down half-way through
    else:
        assert during == pytest.approx(before, rel=0.15)


def test_darkening_passes_a_constant_without_a_step_and_its_cancel_glides_back():
    engine = started()
    run(engine, 3.5)
    engine.set_sleep_timer(engine.now + engine.seconds(20), engine.seconds(20), darken=True)
    out = run(engine, 8)
    assert largest_step_db(out) <= ZIPPER_DB
    engine.cancel_sleep_timer()
    out = run(engine, 2)
    assert largest_step_db(out) <= ZIPPER_DB
    assert out[-1] == pytest.approx(0.25, rel=1e-5) and not engine.low_pass_active


class Loud:
    """A square-ish noise at ±level: every sample is a peak, so the limiter acts above 0.8."""

    def __init__(self, level: float) -> None:
        self.level = level
        self._rng = np.random.default_rng(3)

    def render(self, frames):
        return (self.level * np.sign(self._rng.standard_normal((frames, 2)))).astype(np.float32)


@pytest.mark.parametrize("level", [0.3, 0.95, 1.5])
def test_a_fed_source_at_a_steady_level_gives_the_same_samples_as_a_plain_one(level):
    """The audio thread's steady-level path (one multiply, the limiter's scan skipped when the
    feed's measured peak allows it) must give what the general path gives, and still limit."""
    from bedside.audio.synthesis import Feed

    fed, plain = Engine(RATE, volume=100), Engine(RATE, volume=100)
    feed = Feed(Loud(level))
    for _ in range(200):
        feed.fill(2048)
    fed.play("loud", feed, fade_in=0.1)
    plain.play("loud", Loud(level), fade_in=0.1)
    a, b = run(fed, 4.0, block=512), run(plain, 4.0, block=512)
    assert np.array_equal(a, b)
    assert np.abs(a).max() <= 0.97  # the limiter's ceiling, loud or not
    assert (fed.limited_samples > 0) == (level > 0.8)


@pytest.mark.parametrize("darken", [False, True])
@pytest.mark.parametrize(("into_fade_s", "new_fade_s", "new_expiry_s"), [(50, 10, 10), (30, 5, 120), (59, 60, 60)])
def test_a_new_timer_during_the_sleep_fade_goes_on_from_where_the_level_is(darken, into_fade_s, new_fade_s,
                                                                           new_expiry_s):
    """Home Assistant's "fade out now", a stop entry or the timer button late in the sleep fade:
    the fade had taken the level down by tens of dB, and the new one started again from 0 dB
    (found by the week on the sample clock: a 32 dB step up at a 01:30 stop)."""
    engine = started()
    run(engine, 3.5)
    engine.set_sleep_timer(engine.now + engine.seconds(60), engine.seconds(60), darken=darken)
    before = run(engine, into_fade_s)
    engine.set_sleep_timer(engine.now + engine.seconds(new_expiry_s), engine.seconds(new_fade_s), darken=darken)
    after = run(engine, new_expiry_s + 1)
    joined = np.concatenate([before, after])
    assert largest_step_db(joined) <= ZIPPER_DB
    nonzero = np.abs(after[after != 0])
    assert nonzero.max() <= abs(before[-1]) * 10 ** (0.01 / 20)  # never louder again
    assert after[-engine.seconds(0.5):].max() == 0.0  # and silent by the new expiry


def test_after_a_darkened_night_the_next_sound_is_bright_again():
    """The sleep fade's low-pass outlived the night: the next sound started without a timer played
    through a 400 Hz low-pass until something reset it (found by the week on the sample clock)."""
    engine = Engine(RATE, volume=100)
    engine.play("tone", Tone(), fade_in=0.5)
    run(engine, 1)
    engine.set_sleep_timer(engine.now + engine.seconds(5), engine.seconds(5), darken=True)
    run(engine, 6)
    assert not engine.audible
    engine.play("tone", Tone(), fade_in=0.5)
    out = run(engine, 2)[engine.seconds(1):]
    assert not engine.low_pass_active
    assert np.sqrt(np.mean(out**2)) == pytest.approx(0.25 / math.sqrt(2), rel=1e-3)


def test_a_timer_set_during_a_brightening_rise_lets_the_low_pass_open_on():
    """A wake-up with brighten and stop_after on a sound already playing: the wake-up's timer
    dropped the opening low-pass at once, a jump in brightness (a 4 kHz tone: +20 dB in a sample)."""
    engine = Engine(RATE, volume=60)
    engine.play("tone", Tone(), fade_in=0.5)
    run(engine, 1)
    engine.rise(60, 30.0, brighten=True, from_silence=False)
    before = run(engine, 5)
    engine.set_sleep_timer(engine.now + engine.seconds(600), engine.seconds(60))
    assert engine.low_pass_active
    after = run(engine, 40)
    levels = 10 * np.log10(np.mean(np.concatenate([before, after]).reshape(-1, 48) ** 2, axis=1))
    at = len(before) // 48
    assert np.abs(np.diff(levels[at - 100:at + 1000])).max() < 0.05  # it opens on smoothly: no jump at the timer
    assert levels[-100:].mean() == pytest.approx(levels[-1], abs=0.05) and levels[-1] > levels[0] + 10


@pytest.mark.parametrize("limited", [False, True])
def test_sixteen_bit_output_is_dithered_per_channel_keeps_silence_exact_and_clips_nothing_it_should_not(limited):
    """A level of 0.3 LSB, below what 16 bits can say, must come out as 0.3 LSB on average (the dither
    makes the quantiser linear), with an error that rises up the spectrum on each channel (high-passed
    TPDF, so quietest where the ear is keenest), independent between channels, ±1 LSB at most, and
    exact zeros where the signal is exactly zero. Blocks longer than the dither table take several
    windows of it and behave the same."""
    encoder = Encoder("S16_LE", 3, limited=limited)
    lsb = 1 / 32767
    level = np.full((DITHER_TABLE, 2), 0.3 * lsb, np.float32)  # two windows of the table per block
    level[1000:3000] = 0.0
    words = np.concatenate([np.frombuffer(encoder.encode(level), "<i2").reshape(-1, 2).astype(np.float64)
                            for _ in range(2)])
    assert np.all(words[1000:3000] == 0) and np.all(words[DITHER_TABLE + 1000:DITHER_TABLE + 3000] == 0)
    error = np.delete(words, np.r_[1000:3000, DITHER_TABLE + 1000:DITHER_TABLE + 3000], axis=0) - 0.3
    assert set(np.unique(words)) == {-1.0, 0.0, 1.0}
    assert np.all(np.abs(error.mean(axis=0)) < 0.01)  # 0.3 LSB on average, on both channels
    for channel in error.T:
        power = np.abs(np.fft.rfft(channel)) ** 2
        quarter = len(power) // 4
        assert power[:quarter].mean() < 0.4 * power[-quarter:].mean()  # high-passed: ~0.25 ideally
    assert abs(np.corrcoef(error.T)[0, 1]) < 0.02
    # Full scale plus dither is clipped, not wrapped; the engine's limiter keeps its own blocks below
    # LIMIT_CEILING, so an encoder told so (the ALSA sink's) rounds with no clipping pass.
    top = LIMIT_CEILING if limited else 1.0
    loud = np.frombuffer(encoder.encode(np.full((4096, 2), top, np.float32)), "<i2")
    assert abs(loud.astype(np.float64).mean() - top * 32767) < 0.5 and loud.min() >= round(top * 32767) - 1
