"""The catalogue of sounds: the built-ins, and the recordings and mixes a config declares.

Every sound carries a calibration gain that brings it to the same K-weighted loudness
(:data:`TARGET_LUFS` at volume 100), so switching sounds at the same volume keeps the perceived
level. The built-ins' gains are measured by ``scripts/calibrate.py`` over long renders and checked
by the test suite; a recording's is measured when it is loaded; a mix's follows from its layers.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from bedside.audio.loudness import loudness_lufs
from bedside.audio.synth import Source
from bedside.audio.synth.birds import Birds
from bedside.audio.synth.fire import Fire
from bedside.audio.synth.nature import (
    GENTLE,
    HEAVY,
    LIGHT,
    RIVER,
    ROOF,
    SPLASHING,
    SWELLING,
    Breeze,
    Fan,
    Rain,
    Stream,
    Surf,
    Wind,
)
from bedside.audio.synth.night import FIELD, Night
from bedside.audio.synth.noise import BrownNoise, PinkNoise, WhiteNoise
from bedside.audio.synth.recording import MIN_SECONDS, FileTape, Recording
from bedside.audio.synth.steady import Steady
from bedside.audio.synth.storm import DISTANT_STORM, Thunderstorm

#: Every sound plays at this loudness at volume 100 (0 dB). Low enough that the sounds with the
#: largest peaks (surf, wind) keep their peaks under the limiter's threshold.
TARGET_LUFS = -30.0

Factory = Callable[[int, np.random.SeedSequence], Source]


@dataclass(frozen=True)
class Sound:
    name: str
    description: str
    make: Factory
    calibration_db: float = 0.0


# Measured loudness (LUFS) of each built-in at unit gain: `python scripts/calibrate.py` prints it.
_MEASURED_LUFS = {
    "white": 6.11, "pink": -12.25, "brown": -9.22,
    "rain": 2.10, "light-rain": -8.36, "heavy-rain": -1.70, "roof-rain": -5.68, "surf": -18.07, "gentle-surf": -15.29,
    "fan": -14.70, "wind": -20.50, "breeze": -9.47, "night-wind": -8.16, "stream": 1.17, "brook": -4.95, "river": -0.91,
    "birds": -22.25, "fire": -10.24, "thunderstorm": 1.79, "distant-thunder": -15.40, "summer-night": -30.70,
    "crickets": -22.48,
}

_BUILTINS: tuple[tuple[str, str, Factory], ...] = (
    ("white", "White noise: equal energy per hertz, a bright even hiss.", WhiteNoise),
    ("pink", "Pink noise: equal energy per octave, like steady rain on leaves.", PinkNoise),
    ("brown", "Brown noise: a deep, soft rumble, like a distant waterfall.", BrownNoise),
    ("rain", "Steady rain: a soft hiss with drops landing all around.", Rain),
    ("light-rain", "Light rain on leaves: a hush, and single drops you can tell apart.", partial(Rain, style=LIGHT)),
    ("heavy-rain", "A downpour heard from indoors: dense, dark and steady, with the odd knock of a big drop.",
     partial(Rain, style=HEAVY)),
    ("roof-rain", "Rain on the roof, heard from bed: a close patter over a soft rush, now and then a heavier drop.",
     partial(Rain, style=ROOF)),
    ("surf", "Rolling surf: waves breaking on an open beach in a slow, steady rhythm.", Surf),
    ("gentle-surf", "Gentle surf: small waves lapping a sheltered shore under a far-off roar.",
     partial(Surf, style=GENTLE)),
    ("fan", "A box fan: moving air chopped by the passing blades, a faint motor hum.", Fan),
    ("wind", "Gusty wind: a dark roar that surges and dies away.", Wind),
    ("breeze", "A steady breeze: soft moving air that drifts.", Breeze),
    ("night-wind", "Wind around the house at night: soft air that swells and settles every few seconds.",
     partial(Breeze, style=SWELLING)),
    ("stream", "A babbling brook: running water and small bubbles.", Stream),
    ("brook", "A shallow brook close by: water splashing and bubbling over stones.", partial(Stream, style=SPLASHING)),
    ("river", "A wide river: a steady, bright rush of water.", partial(Stream, style=RIVER)),
    ("birds", "Birds at dawn: a few birds around the house, singing one by one, then more as it grows light.",
     Birds),
    ("fire", "A wood fire in the hearth: soft lapping flames, a hiss, and the crackle and pop of the logs.", Fire),
    ("thunderstorm", "A summer storm: steady rain, and thunder rolling far away every few minutes.", Thunderstorm),
    ("distant-thunder", "A storm passing far off: thunder rolling and grumbling in the distance over a soft rain.",
     partial(Thunderstorm, style=DISTANT_STORM)),
    ("summer-night", "A warm summer night: crickets near and far, a soft chorus of insects, now and then a frog.",
     Night),
    ("crickets", "Crickets in a far-off field: a steady, soft shimmer over the night air, a few heard one by one.",
     partial(Night, style=FIELD)),
)


#: The steady colours need no holding to their loudness; every natural sound is held over minutes.
_COLOURS = ("white", "pink", "brown")


def _held(make: Factory, mean_lufs: float) -> Factory:
    def held(rate: int, seed: np.random.SeedSequence) -> Source:
        return Steady(make(rate, seed), rate, mean_lufs)
    return held


def unheld_factories() -> dict[str, Factory]:
    """The built-ins as synthesised, before holding to their loudness: what calibration measures
    (the held sounds are pulled toward the table's figures, so measuring them would only read the
    table back)."""
    return {name: make for name, _, make in _BUILTINS}


def builtin_sounds() -> dict[str, Sound]:
    return {name: Sound(name, text, make if name in _COLOURS else _held(make, _MEASURED_LUFS[name]),
                        TARGET_LUFS - _MEASURED_LUFS[name])
            for name, text, make in _BUILTINS}


class Mix:
    """Layers of sounds summed with fixed gains (e.g. rain over brown noise at −12 dB)."""

    def __init__(self, layers: Sequence[tuple[Source, float]]) -> None:
        self._layers = [(source, np.float32(gain)) for source, gain in layers]

    def render(self, frames: int) -> np.ndarray:
        first, gain = self._layers[0]
        out = first.render(frames) * gain
        for source, gain in self._layers[1:]:
            out += source.render(frames) * gain
        return out


def mix_sound(name: str, description: str, layers: Sequence[tuple[Sound, float]]) -> Sound:
    """A mix of calibrated sounds at levels in dB, brought back to the target loudness.

    The layers are independent, so their powers add: a mix of two equal layers is 3 dB louder
    than either, and is turned down by that much.
    """
    total_db = 10 * math.log10(sum(10 ** (level / 10) for _, level in layers))

    def make(rate: int, seed: np.random.SeedSequence) -> Source:
        seeds = seed.spawn(len(layers))
        return Mix([(sound.make(rate, s), 10 ** ((sound.calibration_db + level) / 20))
                    for (sound, level), s in zip(layers, seeds, strict=True)])

    return Sound(name, description, make, -total_db)


#: A long recording's loudness is measured on this many pieces (about a second each) spread
#: through it; a shorter one is measured whole.
LOUDNESS_PIECES = 16


def recording_loudness(tape: FileTape, rate: int) -> float:
    """Ungated loudness (LUFS) of a recording, a piece at a time: memory stays a piece, and the
    pieces read (first and last among them) also prove that the file decodes."""
    count = tape.pieces
    picks = range(count) if count <= LOUDNESS_PIECES else np.linspace(0, count - 1, LOUDNESS_PIECES).round()
    energy, frames = 0.0, 0
    for index in picks:
        piece = tape.piece(int(index))
        loudness = loudness_lufs(piece, rate)
        frames += len(piece)
        if loudness > -math.inf:
            energy += len(piece) * 10 ** ((loudness + 0.691) / 10)
    return -0.691 + 10 * math.log10(energy / frames) if energy > 0 else -math.inf


#: Loudness measured per recording file (path, size, modification time, rate): a reload (SIGHUP)
#: of a config naming a long recording would otherwise decode pieces of it again each time, on
#: the main thread, competing with the audio thread for the CPU.
_measured: dict[tuple[str, int, int, int], float] = {}


def recording_sound(name: str, description: str, path: Path, rate: int) -> Sound:
    """A recording, streamed from its file as it plays, calibrated from its own loudness.

    Everything that could refuse it at the first press of play is checked here, at
    ``check-config`` and at start: the format, the length, that it decodes, that it is not silent.
    """
    try:
        stat = path.stat()
        known = (str(path), stat.st_size, stat.st_mtime_ns, rate)
    except OSError:
        known = None
    loudness = _measured.get(known) if known else None
    if loudness is None:
        tape = FileTape(path, rate)
        try:
            if not 8000 <= tape.file_rate <= 384000 or not 1 <= tape.channels <= 64:
                raise ValueError(f"{tape.file_rate} Hz, {tape.channels} channels: not a recording bedside can play")
            if tape.seconds < MIN_SECONDS:
                raise ValueError(f"it lasts {tape.seconds:.2f} s; a recording must last at least {MIN_SECONDS} s")
            loudness = recording_loudness(tape, rate)
        finally:
            tape.close()
        if known:
            if len(_measured) >= 64:
                _measured.pop(next(iter(_measured)))
            _measured[known] = loudness
    if loudness == -math.inf:
        raise ValueError(f"{path} is silent")
    return Sound(name, description, lambda r, seed: Recording(FileTape(path, r), r, seed), TARGET_LUFS - loudness)


class UnknownSound(KeyError):
    def __init__(self, name: str, known: Mapping[str, Sound]) -> None:
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known sounds: {', '.join(known)}"
        super().__init__(f"unknown sound {name!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


def lookup(catalog: Mapping[str, Sound], name: str) -> Sound:
    try:
        return catalog[name]
    except KeyError:
        raise UnknownSound(name, catalog) from None


def build_catalog(declarations: Sequence, rate: int) -> dict[str, Sound]:
    """The built-ins plus the config's ``[[sounds]]``; a mix may use any sound declared before it."""
    from bedside.config import ConfigError

    catalog = builtin_sounds()
    for i, decl in enumerate(declarations):
        where = f"sounds[{i}]"
        if decl.name in catalog:
            raise ConfigError(f"{where}.name", f"{decl.name!r} is already a sound")
        if decl.file is not None:
            try:
                catalog[decl.name] = recording_sound(decl.name, decl.description, decl.file, rate)
            except Exception as error:  # soundfile raises its own types for unreadable files
                raise ConfigError(f"{where}.file", f"cannot use {decl.file}: {error}") from error
            continue
        layers = []
        for j, (layer_name, level) in enumerate(decl.layers):
            if layer_name not in catalog:
                raise ConfigError(f"{where}.layers[{j}].sound", str(UnknownSound(layer_name, catalog)))
            layers.append((catalog[layer_name], level))
        catalog[decl.name] = mix_sound(decl.name, decl.description, layers)
    return catalog


def catalog_for(config, rate: int) -> dict[str, Sound]:
    """The catalogue a config describes, with its default sound checked against it."""
    from bedside.config import ConfigError, with_line

    try:
        catalog = build_catalog(config.sounds, rate)
        if config.sound.default not in catalog:
            raise ConfigError("sound.default", str(UnknownSound(config.sound.default, catalog)))
        for entry in config.schedule:
            if entry.sound is not None and entry.sound not in catalog:
                raise ConfigError(f"{entry.name}.sound", str(UnknownSound(entry.sound, catalog)))
        for index, profile in enumerate(config.profiles):
            if profile.sound and profile.sound not in catalog:
                raise ConfigError(f"profile[{index}].sound", str(UnknownSound(profile.sound, catalog)))
    except ConfigError as error:
        raise with_line(error, config.path) from None
    return catalog
