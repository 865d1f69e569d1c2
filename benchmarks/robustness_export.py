"""What the robustness benchmark's `--export DIR` wrote, for the scripts that ask the same queries
another way (python_query_equality.py, scan_query_equality.py): DIR/works/* registered with AI
training denied, DIR/queries/FAMILY/* asked."""
import glob
import os
import subprocess
import sys


def run_cli(binary, *args):
    """Runs `imprint ARGS...`; its stdout lines (fails on a non-zero exit)."""
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True)
    return out.stdout.splitlines()


def read_export(export_dir):
    """The sorted work and query paths of an export; exits when there are none."""
    works = sorted(glob.glob(os.path.join(export_dir, "works", "*")))
    queries = sorted(glob.glob(os.path.join(export_dir, "queries", "*", "*")))
    if not works or not queries:
        sys.exit(f"{export_dir}: no works/ or queries/ (robustness --export writes them)")
    return works, queries


def register_works(binary, catalog, works, chunk):
    """Registers the works in a new catalog, `chunk` files a command, AI training denied."""
    for i in range(0, len(works), chunk):
        run_cli(binary, "register", "--catalog", catalog, "--deny", "ai-training",
                *works[i:i + chunk])
