"""Fetch the real recordings of benchmarks/references/references.toml as short excerpts.

Debian's package archive carries most of them (the one place an appliance's build machine can
always reach): `apt-get download` fetches each package that carries a reference, the file is taken
out of the package (and out of the zip or GResource bundle inside it), the excerpt is cut and
written as 16-bit FLAC to the cache, and the package is deleted. A package of a newer Debian
release than the machine's (Blanket is in trixie, not bookworm) is named by its `pool` path and
`sha256`, and taken from the Debian mirror apt is already configured with. A few come from a public
git repository instead (`repository`, `commit`, `path`, `sha256`): read from a local clone given
with `--git DIR` (DIR/owner+name, a bare or working clone), else downloaded from GitHub at that
commit. About 3.5 GB is downloaded once; the excerpts keep about 140 MB. Excerpts already in the
cache are not fetched again.

    python scripts/fetch_references.py [--cache DIR] [--git DIR] [NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import urllib.request
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "benchmarks" / "references" / "references.toml"
DEFAULT_CACHE = Path(os.environ.get("BEDSIDE_REFERENCES", Path.home() / ".cache" / "bedside" / "references"))


def load_manifest() -> list[dict]:
    with MANIFEST.open("rb") as f:
        return tomllib.load(f)["reference"]


def excerpt_path(cache: Path, entry: dict) -> Path:
    return cache / f"{entry['name']}.flac"


def _copy_member(deb: Path, path: str, out: BinaryIO) -> None:
    """Copy one file out of a .deb into ``out``, streamed through dpkg-deb (nothing else unpacked)."""
    wanted = {path, "./" + path}
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.name in wanted:
                    handle = tar.extractfile(member)
                    assert handle is not None
                    shutil.copyfileobj(handle, out, 1 << 20)
                    proc.kill()  # the rest of the package is not needed
                    return
    raise SystemExit(f"{path} is not in {deb.name}")


def _member_bytes(deb: Path, path: str) -> bytes:
    buffer = io.BytesIO()
    _copy_member(deb, path, buffer)
    return buffer.getvalue()


def _scratch_copy(deb: Path, path: str, scratch: Path) -> Path:
    """An archive inside a .deb, written to scratch once for all the excerpts taken out of it."""
    copy = scratch / Path(path).name
    if not copy.exists():
        with copy.open("wb") as out:
            _copy_member(deb, path, out)
    return copy


def _zip_member(deb: Path, path: str, member: str, scratch: Path) -> bytes:
    """A file inside a zip inside a .deb (zipfile needs to seek: hence the copy)."""
    with zipfile.ZipFile(_scratch_copy(deb, path, scratch)) as z:
        return z.read(member)


def _gresource_member(deb: Path, path: str, member: str, scratch: Path) -> bytes:
    """A file inside a GResource bundle inside a .deb (GNOME apps compile their data into one)."""
    bundle = _scratch_copy(deb, path, scratch)
    return subprocess.run(["gresource", "extract", str(bundle), member], check=True, capture_output=True).stdout


def debian_mirror() -> str:
    """The Debian archive apt is configured with (not its security archive): no host is written here."""
    lines = subprocess.run(["apt-get", "indextargets", "--format", "$(REPO_URI) $(LABEL)", "Origin: Debian"],
                           check=True, capture_output=True, text=True).stdout.split("\n")
    for uri, _, label in (line.partition(" ") for line in lines):
        if uri and label == "Debian":
            return uri.rstrip("/")
    raise SystemExit("apt has no Debian archive configured: cannot fetch packages from another release")


def _download_pool(pool: str, sha256: str, scratch: Path) -> None:
    """Download one pinned package file from the Debian mirror and check it is the one named."""
    target = scratch / Path(pool).name
    digest = hashlib.sha256()
    url = f"{debian_mirror()}/{pool}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response, target.open("wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except OSError as error:  # urllib's errors are OSErrors: gone from the pool, no network
        raise SystemExit(f"{url}: {error} (a version the archive no longer keeps? pin a newer one in "
                         f"{MANIFEST.name})") from error
    if digest.hexdigest() != sha256:
        raise SystemExit(f"{pool}: sha256 {digest.hexdigest()}, expected {sha256}")


def _git_file(entry: dict, clones: Path | None) -> bytes:
    """One file of a git repository at a pinned commit, checked against its sha256."""
    repository, commit, path = entry["repository"], entry["commit"], entry["path"]
    clone = clones / repository.replace("/", "+") if clones else None
    if clone is not None and clone.exists():
        git_dir = clone / "repo" if (clone / "repo").exists() else clone
        data = subprocess.run(["git", "--git-dir" if (git_dir / "HEAD").exists() else "-C", str(git_dir),
                               "show", f"{commit}:{path}"], check=True, capture_output=True).stdout
    else:
        url = f"https://raw.githubusercontent.com/{repository}/{commit}/{path}"
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read(64 << 20)
        except OSError as error:
            raise SystemExit(f"{url}: {error} (no route to GitHub? give a local clone with --git)") from error
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise SystemExit(f"{entry['name']}: {path} at {commit[:12]} is not the file pinned (sha256)")
    return data


def _write_excerpt(data: bytes, entry: dict, target: Path) -> None:
    samples, rate = soundfile.read(io.BytesIO(data), always_2d=True, dtype="float32")
    first = int(entry["start"] * rate)
    last = first + int(entry["seconds"] * rate)
    if last > len(samples):
        raise SystemExit(f"{entry['name']}: the recording is {len(samples) / rate:.1f} s, shorter than the excerpt")
    excerpt = np.clip(samples[first:last], -1.0, 1.0)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    soundfile.write(partial, excerpt, rate, format="FLAC", subtype="PCM_16")
    partial.replace(target)


def fetch(cache: Path, clones: Path | None = None, names: list[str] | None = None) -> int:
    manifest = load_manifest()
    unknown = set(names or ()) - {e["name"] for e in manifest}
    if unknown:
        raise SystemExit(f"not in {MANIFEST.name}: {', '.join(sorted(unknown))}")
    entries = [e for e in manifest if not excerpt_path(cache, e).exists() and (not names or e["name"] in names)]
    for entry in [e for e in entries if "repository" in e]:
        _write_excerpt(_git_file(entry, clones), entry, excerpt_path(cache, entry))
        print(f"  {entry['name']}: {entry['seconds']} s (from {entry['repository']})", flush=True)
    by_package: dict[str, list[dict]] = {}
    for entry in entries:
        if "repository" not in entry:
            by_package.setdefault(entry["package"], []).append(entry)
    for package, wanted in by_package.items():
        with tempfile.TemporaryDirectory(dir=cache.parent if cache.parent.exists() else None) as tmp:
            scratch = Path(tmp)
            print(f"downloading {package} ({len(wanted)} excerpt(s))", flush=True)
            if "pool" in wanted[0]:
                _download_pool(wanted[0]["pool"], wanted[0]["sha256"], scratch)
            else:
                subprocess.run(["apt-get", "download", "-q", package], cwd=scratch, check=True)
            deb = next(scratch.glob("*.deb"))
            for entry in wanted:
                if "zip" in entry:
                    data = _zip_member(deb, entry["path"], entry["zip"], scratch)
                elif "gresource" in entry:
                    data = _gresource_member(deb, entry["path"], entry["gresource"], scratch)
                else:
                    data = _member_bytes(deb, entry["path"])
                _write_excerpt(data, entry, excerpt_path(cache, entry))
                print(f"  {entry['name']}: {entry['seconds']} s", flush=True)
    print(f"{sum(excerpt_path(cache, e).exists() for e in manifest)} of {len(manifest)} excerpts in {cache}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--git", type=Path, help="a directory of local clones, one per repository (owner+name)")
    parser.add_argument("names", nargs="*", help="only these references (all by default)")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    return fetch(args.cache, args.git, args.names)


if __name__ == "__main__":
    sys.exit(main())
