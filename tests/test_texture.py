"""The natural sounds land among real recordings of their class (McDermott–Simoncelli statistics).

The real recordings' statistics come from benchmarks/references/statistics.json (computed from
openly licensed recordings by `make references`; the audio itself is not in git). The bedside
sounds are rendered here, with a different seed from the one the benchmark prints, so that a
sound tuned to one lucky seed would fail.
"""

from __future__ import annotations

import json
import sys
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import texture as bench  # noqa: E402
from texturestats import GROUPS, class_fit, distance, nearest_sound, normalisers, texture  # noqa: E402

from bedside.sounds import builtin_sounds  # noqa: E402

SEED = 7
COLOURS = ("white", "pink", "brown")
REFERENCES = bench.load_references()
SCALE = normalisers(REFERENCES)
MEASURED_KINDS = {r.kind for r in REFERENCES}


def _render(name: str):
    return name, bench.render_texture(name, 120.0, SEED)


@pytest.fixture(scope="module")
def sounds():
    with ProcessPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(_render, list(builtin_sounds())))


def test_every_reference_in_the_manifest_has_statistics_and_a_licence():
    manifest = tomllib.loads((ROOT / "benchmarks/references/references.toml").read_text())["reference"]
    stats = json.loads(bench.STATISTICS.read_text())
    assert [e["name"] for e in manifest] == list(stats)
    for entry in manifest:
        assert entry["licence"] and entry["credit"] and (entry.get("package") or entry.get("repository"))
        assert set(stats[entry["name"]]["statistics"]) == set(GROUPS)


def test_every_natural_sound_has_a_class():
    assert set(builtin_sounds()) - set(COLOURS) == set(bench.KIND)


def test_the_controls_two_excerpts_are_near_and_white_noise_is_far_from_rain(sounds):
    by_name = {r.name: r.texture for r in REFERENCES}
    assert distance(by_name["0ad-rain-a"], by_name["0ad-rain-b"], SCALE)["all"] < 0.25
    assert distance(by_name["0ad-wind-a"], by_name["0ad-wind-b"], SCALE)["all"] < 0.4
    # 0.95 with the 44 excerpts of 2026-12-02: the scale is the median distance between classes,
    # which fire and thunder widened (it was 1.05 with the 23 before them).
    assert distance(sounds["white"], by_name["megaglest-light-rain"], SCALE)["all"] > 0.85


def test_the_statistics_see_what_they_claim_to():
    """Modulating every band together raises CV and cross-band correlation; sparse clicks raise
    kurtosis: the measure can tell the difference, so the checks below can fail."""
    rng = np.random.default_rng(0)
    rate, n = 16000, 16000 * 30
    noise = rng.standard_normal(n)
    t = np.arange(n) / rate
    swell = noise * (1 + 0.8 * np.sin(2 * np.pi * 0.2 * t))
    clicks = noise * 0.02  # two clicks a second over a faint hiss
    clicks[rng.integers(0, n, 60)] += 3.0
    plain, waves, drops = texture(noise, rate), texture(swell, rate), texture(clicks, rate)
    assert waves.cv.mean() > plain.cv.mean() + 0.08
    assert waves.correlation[-1] > 0.5 > plain.correlation[-1] + 0.4
    assert waves.modulation[1] > plain.modulation[1] + 15  # 0.25 Hz octave: the 0.2 Hz swell
    assert drops.kurtosis.mean() > plain.kurtosis.mean() + 2  # log2 kurtosis: > 4× as peaky
    assert drops.skew.mean() > plain.skew.mean() + 2


@pytest.mark.parametrize("name", sorted(k for k, v in bench.KIND.items() if v in MEASURED_KINDS))
def test_each_natural_sound_is_among_the_real_recordings_of_its_class(sounds, name):
    fit = class_fit(sounds[name], REFERENCES, bench.KIND[name], SCALE)
    outside = {group: f"{near:.2f} > {spread:.2f}" for group, (near, spread) in fit.items() if near > spread}
    assert not outside, f"{name} is further from every real recording than they are from each other: {outside}"


#: Classes whose every real recording is nearest to one of their own sounds, at every seed.
EVERY_RECORDING = ("rain", "surf", "wind", "stream")
#: The one exception, named: 0 A.D.'s gusty wind (both its excerpts) is a dark roar whose whole
#: spectrum surges together, 0.55 from a real thunder roll on these statistics; at some seeds
#: (1 and 11 of the benchmark's four) it is nearest distant-thunder, never another class.
NEIGHBOURS = {"0ad-wind": "distant-thunder"}
#: Classes that do not yet land nearest for most of their real recordings, with the reason: the
#: measure says so in every run, and a strict xfail turns into a failure the day one does. Empty
#: since distant-thunder (2026-12-05): thunder 6 of 6, night 4 of 7, fire and birds most.
NOT_YET: dict[str, str] = {}
#: The real nights that are one steady insect chorus over the air: a night sound must be nearest each.
STEADY_NIGHTS = ("blanket-summer-night", "megaglest-autumn-night", "redeclipse-nightcrickets", "moodist-crickets")


@pytest.mark.parametrize("reference", [r for r in REFERENCES if r.kind in EVERY_RECORDING], ids=lambda r: r.name)
def test_each_real_recording_is_nearest_to_a_sound_of_its_class(sounds, reference):
    best, d = nearest_sound(reference, sounds, SCALE)
    assert bench.KIND.get(best) == reference.kind or best == NEIGHBOURS.get(reference.recording), \
        f"{reference.name} is nearest to {best} ({d:.2f})"


@pytest.mark.parametrize("kind", [
    pytest.param(kind, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[kind])) if kind in NOT_YET else kind
    for kind in sorted(set(bench.KIND.values()) & MEASURED_KINDS)])
def test_most_real_recordings_of_a_class_are_nearest_to_one_of_its_sounds(sounds, kind):
    members = [r for r in REFERENCES if r.kind == kind]
    wrong = {r.name: nearest_sound(r, sounds, SCALE) for r in members}
    wrong = {name: f"{best} {d:.2f}" for name, (best, d) in wrong.items() if bench.KIND.get(best) != kind}
    assert len(wrong) < len(members) / 2, f"{len(wrong)} of {len(members)} nearer another class: {wrong}"


@pytest.mark.parametrize("name", STEADY_NIGHTS)
def test_a_steady_real_night_is_nearest_to_a_night_sound(sounds, name):
    """Brown noise and heavy rain were nearer these three before the crickets came (issue 22)."""
    (reference,) = [r for r in REFERENCES if r.name == name]
    best, d = nearest_sound(reference, sounds, SCALE)
    assert bench.KIND.get(best) == "night", f"{name} is nearest to {best} ({d:.2f})"


def _envelope_line_db(audio: np.ndarray, rate: int, low: float, high: float) -> float:
    """How far the strongest envelope line in [low, high) Hz stands above the median there."""
    env = np.abs(audio[:, 0])
    env = env[: len(env) // 48 * 48].reshape(-1, 48).mean(axis=1)  # 1 kHz envelope at 48 kHz
    power = np.abs(np.fft.rfft(env - env.mean())) ** 2
    freqs = np.fft.rfftfreq(len(env), 48 / rate)
    band = (freqs >= low) & (freqs < high)
    return float(10 * np.log10(power[band].max() / np.median(power[band])))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fan_is_chopped_by_its_blades_and_pink_noise_is_not(seed):
    """No real fan recordings could be fetched, so the fan is held to its physics: its envelope has
    a line at the blade rate (45–75 Hz) that pink noise's has not."""
    rate = 48000
    fan = builtin_sounds()["fan"].make(rate, np.random.SeedSequence(seed)).render(rate * 20)
    pink = builtin_sounds()["pink"].make(rate, np.random.SeedSequence(seed)).render(rate * 20)
    assert _envelope_line_db(fan, rate, 40, 80) > 15
    assert _envelope_line_db(pink, rate, 40, 80) < 13
