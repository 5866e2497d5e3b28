"""Do bedside's natural sounds land among real recordings of their class?

Computes the McDermott–Simoncelli texture statistics (benchmarks/texturestats.py) of every
built-in sound and of the real recordings in benchmarks/references/references.toml, and prints:

1. controls: two excerpts of one real recording (should be near, well under 1) and white noise
   against real light rain (should be far, over 1);
2. for each natural sound, per statistic group, its distance to the nearest real recording of its
   class against the largest distance between two real recordings of that class (ok when within);
3. for each real recording, the nearest bedside sound (ok when of its class).

Distances are normalised per group by the median distance between real recordings of different
classes: 1 = as different as two unrelated real textures.

    python benchmarks/texture.py              # statistics of the references from git
    python benchmarks/texture.py --update     # recompute them from the fetched audio (make references;
                                              # an excerpt not fetched keeps the statistics in git)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from texturestats import GROUPS, Reference, Texture, class_fit, distance, nearest_sound, normalisers, texture

from bedside.sounds import builtin_sounds

HERE = Path(__file__).resolve().parent
STATISTICS = HERE / "references" / "statistics.json"
RATE = 48000

#: The class of every built-in natural sound (the noise colours have none, but still compete
#: for "nearest bedside sound").
KIND = {
    "rain": "rain", "light-rain": "rain", "heavy-rain": "rain", "roof-rain": "rain",
    "surf": "surf", "gentle-surf": "surf",
    "wind": "wind", "breeze": "wind", "night-wind": "wind",
    "stream": "stream", "brook": "stream", "river": "stream",
    "fan": "fan",
    "birds": "birds",
    "fire": "fire",
    "thunderstorm": "thunder",
    "distant-thunder": "thunder",
    "summer-night": "night",
    "crickets": "night",
}


#: Seconds skipped before the analysis, beyond the first: birds start sparse at first light, and
#: the recordings are full dawn choruses, so the chorus is measured once it has filled in.
SKIP_S = {"birds": 600}


def render_texture(name: str, seconds: float, seed: int) -> Texture:
    """The statistics of ``seconds`` of a built-in sound (its first second dropped: the start)."""
    source = builtin_sounds()[name].make(RATE, np.random.SeedSequence(seed))
    for _ in range(1 + SKIP_S.get(name, 0)):
        source.render(RATE)
    block = RATE // 2
    audio = np.concatenate([source.render(block) for _ in range(int(seconds * RATE) // block)])
    return texture(audio, RATE)


def references_from_audio(cache: Path, stored: dict) -> tuple[dict, int]:
    """The statistics of every excerpt in the manifest, from its audio in ``cache``; an excerpt not
    fetched keeps its ``stored`` statistics (so one new reference can be added without fetching
    all of them). Returns the statistics and how many were computed from audio."""
    import soundfile

    sys.path.insert(0, str(HERE.parent / "scripts"))
    from fetch_references import excerpt_path, load_manifest

    out, computed = {}, 0
    for entry in load_manifest():
        path = excerpt_path(cache, entry)
        if path.exists():
            samples, rate = soundfile.read(path, always_2d=True, dtype="float64")
            statistics, computed = texture(samples, rate).to_json(), computed + 1
        elif entry["name"] in stored:
            statistics = stored[entry["name"]]["statistics"]
        else:
            raise SystemExit(f"{path} is missing: run `make references` first")
        out[entry["name"]] = {
            "class": entry["class"], "recording": entry.get("recording", entry["name"]),
            "licence": entry["licence"], "credit": entry["credit"], "statistics": statistics,
        }
    return out, computed


def load_references(path: Path = STATISTICS) -> list[Reference]:
    data = json.loads(path.read_text())
    return [Reference(name, item["class"], item["recording"], Texture.from_json(item["statistics"]))
            for name, item in data.items()]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def misses(references: list[Reference], sounds: dict[str, Texture]) -> list[str]:
    """Every check that fails: a sound outside its class in some group, a recording whose
    nearest bedside sound is of another class."""
    scale = normalisers(references)
    kinds = {r.kind for r in references}
    out = []
    for name, tex in sounds.items():
        kind = KIND.get(name)
        if kind in kinds:
            out += [f"{name} outside {kind} in {group} ({near:.2f} > {spread:.2f})"
                    for group, (near, spread) in class_fit(tex, references, kind, scale).items() if near > spread]
    for ref in references:
        if ref.kind in set(KIND.values()):
            best, d = nearest_sound(ref, sounds, scale)
            if KIND.get(best) != ref.kind:
                out.append(f"{ref.name} ({ref.kind}) is nearest to {best} ({d:.2f})")
    return out


def report(references: list[Reference], sounds: dict[str, Texture], white: Texture) -> None:
    """Print the three tables (the verdicts that count are misses()'s)."""
    scale = normalisers(references)
    by_name = {r.name: r for r in references}
    print("## Controls (normalised distance over all groups; 1 = two unrelated real textures)\n")
    print(_row(["pair", *GROUPS, "all"]))
    print(_row(["---"] * (len(GROUPS) + 2)))
    pairs = [("near: two excerpts of 0 A.D. rain", by_name["0ad-rain-a"].texture, by_name["0ad-rain-b"].texture),
             ("near: two excerpts of 0 A.D. wind", by_name["0ad-wind-a"].texture, by_name["0ad-wind-b"].texture),
             ("far: white noise vs real light rain", white, by_name["megaglest-light-rain"].texture)]
    for label, a, b in pairs:
        d = distance(a, b, scale)
        print(_row([label, *(f"{d[g]:.2f}" for g in GROUPS), f"{d['all']:.2f}"]))
    print("\n## Each natural sound against its class: nearest real recording / largest real-to-real\n")
    print(_row(["sound", "class", *GROUPS, "all", "verdict"]))
    print(_row(["---"] * (len(GROUPS) + 4)))
    kinds = {r.kind for r in references}
    for name, tex in sounds.items():
        kind = KIND.get(name)
        if kind is None:
            continue
        if kind not in kinds:
            print(_row([name, kind, *(["no real recordings"] + [""] * len(GROUPS)), "not measured"]))
            continue
        fit = class_fit(tex, references, kind, scale)
        inside = all(near <= spread for near, spread in fit.values())
        cells = [f"{near:.2f}/{spread:.2f}{'' if near <= spread else ' ✗'}" for near, spread in fit.values()]
        print(_row([name, kind, *cells, "inside" if inside else "OUTSIDE"]))
    print("\n## Each real recording: the nearest bedside sound\n")
    print(_row(["recording", "class", "nearest bedside sound", "distance", "verdict"]))
    print(_row(["---"] * 5))
    for ref in references:
        if ref.kind not in set(KIND.values()):
            continue
        best, d = nearest_sound(ref, sounds, scale)
        right = KIND.get(best) == ref.kind
        print(_row([ref.name, ref.kind, best, f"{d:.2f}", "ok" if right else "WRONG CLASS"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="audio analysed per bedside sound")
    parser.add_argument("--seeds", default="1,3,7,11",
                        help="comma-separated seeds: tables for the first, the misses of every one")
    parser.add_argument("--update", action="store_true", help="recompute the references' statistics from audio")
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.update:
        sys.path.insert(0, str(HERE.parent / "scripts"))
        from fetch_references import DEFAULT_CACHE

        data, computed = references_from_audio(args.cache or DEFAULT_CACHE, json.loads(STATISTICS.read_text()))
        STATISTICS.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {STATISTICS.relative_to(HERE.parent)} ({len(data)} excerpts, {computed} from audio)\n")
    references = load_references()
    seeds = [int(s) for s in args.seeds.split(",")]
    failed = 0
    for i, seed in enumerate(seeds):
        sounds = {name: render_texture(name, args.seconds, seed) for name in builtin_sounds()}
        if i == 0:
            print(f"bedside sounds: {args.seconds:.0f} s each at {RATE} Hz, seed {seed}\n")
            report(references, sounds, sounds["white"])
            print(f"\n## Misses by seed ({args.seconds:.0f} s of each sound)\n")
        found = misses(references, sounds)
        failed += bool(found)
        print(f"- seed {seed}: " + ("none" if not found else "; ".join(found)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
