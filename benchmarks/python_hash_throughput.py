#!/usr/bin/python3
"""Batch hashing from Python (imprint.hash_images) against the command line (imprint hash) on the
same files with the same threads, in alternating rounds; prints both images/s and the ratio.

    benchmarks/python_hash_throughput.py [--build build] [--threads N] [--mode exact|fast]
                                         [--rounds K] [--copies C] [PATH...]

PATHs default to the JPEG wallpapers of the gnome/mate/sway-backgrounds packages (the photos
hash_throughput cuts its size classes from), listed --copies times. The CLI's time includes
starting the process and printing its lines, the module's building its Hash objects: each
side's whole cost of a batch. The module is the one --build made (build/python).
"""
import argparse
import datetime
import glob
import os
import platform
import statistics
import subprocess
import sys
import time


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(here, "build"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--mode", default="exact")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("paths", nargs="*")
    a = ap.parse_args()

    sys.path.insert(0, os.path.join(a.build, "python"))
    import imprint  # noqa: E402  (the build's module, not an installed one)

    binary = os.path.join(a.build, "tools", "imprint")
    files = a.paths or sorted(
        p for d in ("gnome", "mate", "sway")
        for p in glob.glob(f"/usr/share/backgrounds/{d}/**/*.jpg", recursive=True))
    files = files * (a.copies if not a.paths else 1)
    if not files:
        sys.exit("no images: install gnome-backgrounds mate-backgrounds sway-backgrounds")
    megapixels = sum(h.width * h.height for h in imprint.hash_images(files[:len(files) // max(1, a.copies)], mode="fast", errors="raise")) / 1e6

    print(f"# Python batch hashing vs imprint hash, {datetime.date.today()}")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; module {imprint.__file__}")
    print(f"inputs: {len(files)} files ({len(files) // max(1, a.copies)} distinct JPEGs, "
          f"{megapixels / (len(files) // max(1, a.copies)):.1f} MP mean), mode {a.mode}, "
          f"threads {a.threads}, {a.rounds} alternating rounds, medians")
    cli_rates, py_rates = [], []
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        subprocess.run([binary, "hash", "--mode", a.mode, "--threads", str(a.threads), *files],
                       check=True, stdout=subprocess.DEVNULL)
        cli_rates.append(len(files) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        out = imprint.hash_images(files, mode=a.mode, threads=a.threads, errors="raise")
        py_rates.append(len(out) / (time.perf_counter() - t0))
    cli, py = statistics.median(cli_rates), statistics.median(py_rates)
    print()
    print("| side | images/s (median) | min | max |")
    print("|---|---|---|---|")
    print(f"| imprint hash (CLI, baseline) | {cli:.1f} | {min(cli_rates):.1f} | {max(cli_rates):.1f} |")
    print(f"| imprint.hash_images (Python) | {py:.1f} | {min(py_rates):.1f} | {max(py_rates):.1f} |")
    print(f"\nPython / CLI: {py / cli * 100:.1f}%")


if __name__ == "__main__":
    main()
