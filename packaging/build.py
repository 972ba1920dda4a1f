"""Build Sieve's one-folder desktop bundle with PyInstaller, then prove it starts with its own ``--selftest``.

    pip install -e '.[package]'
    python packaging/build.py            # → dist/sieve/ (run dist/sieve/sieve), dist/sieve-selftest.png
    python packaging/build.py --check    # only check the recipe's inputs (what CI runs)
    SIEVE_BUNDLE_GPU=1 python packaging/build.py   # keep onnxruntime's CUDA provider (+284 MB)

The self-test runs offscreen: it opens the real window, loads the embedded model, scores the bundled samples,
saves a screenshot and exits 0 only if every row got a label. The script prints the bundle's size and build time
and writes them to dist/sieve-build.json.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "sieve.spec"
DESKTOP = ROOT / "packaging" / "linux" / "sieve.desktop"
ICON = ROOT / "resources" / "icons" / "sieve.png"
MODEL = ROOT / "resources" / "models" / "default"
DIST = ROOT / "dist"


def check() -> list[str]:
    """Problems with the recipe's inputs (empty when the bundle can be built)."""
    problems = []
    for path in (SPEC, DESKTOP, ICON, ROOT / "packaging" / "launch.py", MODEL / "model.onnx",
                 MODEL / "tokenizer.json", MODEL / "config.json"):
        if not path.is_file():
            problems.append(f"missing {path.relative_to(ROOT)}")
    if not any((ROOT / "resources" / "samples").glob("*.csv")):
        problems.append("no sample CSV in resources/samples (the self-test scores them)")
    try:
        compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec")
    except SyntaxError as exc:
        problems.append(f"{SPEC.name} does not parse: {exc}")
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    try:
        entry.read(DESKTOP, encoding="utf-8")
        desk = entry["Desktop Entry"]
        for key, want in (("Type", "Application"), ("Icon", "sieve")):
            if desk.get(key) != want:
                problems.append(f"{DESKTOP.name}: {key} should be {want}")
        if not desk.get("Exec", "").startswith("sieve"):
            problems.append(f"{DESKTOP.name}: Exec should start the sieve command")
    except (configparser.Error, KeyError) as exc:
        problems.append(f"{DESKTOP.name} is not a valid desktop entry: {exc}")
    return problems


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="check the recipe's inputs only; build nothing")
    p.add_argument("--no-selftest", action="store_true", help="skip running the bundle afterwards")
    args = p.parse_args()
    problems = check()
    if problems:
        print("cannot build the bundle:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    if args.check:
        print("recipe OK")
        return 0
    if shutil.which("pyinstaller") is None and not _has_module("PyInstaller"):
        print("PyInstaller is not installed: pip install -e '.[package]'", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", str(DIST),
           "--workpath", str(ROOT / "build" / "pyinstaller"), str(SPEC)]
    print("$ " + " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        print("PyInstaller failed (see above)", file=sys.stderr)
        return 1
    build_s = time.perf_counter() - t0
    bundle = DIST / "sieve"
    shutil.copy2(DESKTOP, bundle / "sieve.desktop")
    shutil.copy2(ICON, bundle / "sieve.png")
    size = folder_size(bundle)
    gpu_wanted = os.environ.get("SIEVE_BUNDLE_GPU") == "1"
    gpu_found = sorted(p.name for p in bundle.rglob("*providers_cuda*"))  # what is really in the bundle
    report = {"bundle": str(bundle.relative_to(ROOT)), "size_mb": round(size / 1e6, 1), "build_s": round(build_s, 1),
              "gpu_provider_included": bool(gpu_found), "python": sys.version.split()[0]}
    if gpu_found and not gpu_wanted:
        print(f"the CPU-only bundle contains {', '.join(gpu_found)}: the recipe's filter missed it", file=sys.stderr)
        return 1
    print(f"bundle {bundle} : {size / 1e6:.0f} MB, built in {build_s:.0f} s", flush=True)
    if not args.no_selftest:
        shot = DIST / "sieve-selftest.png"
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        t1 = time.perf_counter()
        proc = subprocess.run([str(bundle / "sieve"), "--selftest", str(shot)], env=env, capture_output=True,
                              text=True, timeout=600)
        report["selftest_s"] = round(time.perf_counter() - t1, 1)
        report["selftest_exit"] = proc.returncode
        report["selftest"] = (proc.stdout.strip().splitlines() or [""])[-1]
        print(report["selftest"] or proc.stderr[-2000:])
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
    (DIST / "sieve-build.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if report.get("selftest_exit", 0) == 0 else 1


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    sys.exit(main())
