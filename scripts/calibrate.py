"""Measure the built-in sounds' loudness at unit gain, for the table in bedside/sounds.py.

Usage: python scripts/calibrate.py [--seconds 600] [--seeds 4] [--sounds rain,surf]
Long renders and several seeds, because the natural sounds wander by design.
"""

from __future__ import annotations

import argparse

import numpy as np

from bedside.audio.loudness import loudness_lufs
from bedside.sounds import unheld_factories


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--sounds", help="comma-separated names (default: all)")
    args = parser.parse_args()
    factories = unheld_factories()
    for name in args.sounds.split(",") if args.sounds else factories:
        levels = []
        for seed in range(args.seeds):
            source = factories[name](args.rate, np.random.SeedSequence(1000 + seed))
            frames = int(args.seconds * args.rate)
            audio = np.concatenate([source.render(16384) for _ in range(frames // 16384)])
            levels.append(loudness_lufs(audio, args.rate))
        mean_power = 10 * np.log10(np.mean([10 ** (x / 10) for x in levels]))
        print(f'"{name}": {mean_power:.2f},  # seeds: {", ".join(f"{x:.2f}" for x in levels)}')


if __name__ == "__main__":
    main()
