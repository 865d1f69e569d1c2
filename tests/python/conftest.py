"""Shared fixtures of the Python module's tests (run by CTest: tests/CMakeLists.txt).

The module under test is the one this build made (CTest puts build/python first on PYTHONPATH);
the CLI to compare with is IMPRINT_BINARY. Test images are made here with numpy and written as
PNG by png_bytes (zlib from the standard library); photos come from make_samples (the demo's
works and edited uploads, cut from the wallpaper packages).
"""
import os
import struct
import subprocess
import zlib

import numpy as np
import pytest

import imprint

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def env_path(name):
    value = os.environ.get(name)
    assert value, f"{name} is not set (run these tests through ctest)"
    return value


@pytest.fixture(scope="session")
def imprint_binary():
    return env_path("IMPRINT_BINARY")


def shared_dir():
    """The reference folder, found as the C++ suites find it (tests/test_support.cc shared_dir):
    $IMPRINT_SHARED_DIR, else ../shared beside the checkout, else /work/shared."""
    env = os.environ.get("IMPRINT_SHARED_DIR")
    if env:
        return env
    for p in (os.path.join(SOURCE_DIR, "..", "shared"), "/work/shared"):
        if os.path.isdir(os.path.join(p, "pdq-reference")):
            return os.path.realpath(p)
    return os.path.join(SOURCE_DIR, "..", "shared")


@pytest.fixture(scope="session")
def pdq_reference():
    path = os.path.join(shared_dir(), "pdq-reference")
    assert os.path.isdir(path), f"{path}: Meta's PDQ reference vectors are missing"
    return path


def run_cli(binary, *args):
    """stdout lines of `imprint ARGS`; the command must exit 0."""
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True)
    return out.stdout.splitlines()


def png_bytes(pixels):
    """PNG file bytes of an HxWx3 (RGB) or HxW (grey) uint8 array."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    colour_type = 2 if pixels.ndim == 3 else 0
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) +
            chunk(b"IEND", b""))


def synthetic_photo(seed, height=240, width=320):
    """A picture of soft colour blobs: a random 7x9 grid of colours, bilinearly enlarged. High
    PDQ quality (unlike noise), and pictures of different seeds are far apart (distance >= 58
    over 40 seeds, in all 8 orientations), so only planted copies match."""
    rng = np.random.default_rng(seed)
    grid = rng.random((7, 9, 3))
    ys = np.linspace(0, grid.shape[0] - 1, height)
    xs = np.linspace(0, grid.shape[1] - 1, width)
    y0 = np.floor(ys).astype(int).clip(0, grid.shape[0] - 2)
    x0 = np.floor(xs).astype(int).clip(0, grid.shape[1] - 2)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return ((top * (1 - fy) + bottom * fy) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def samples(tmp_path_factory):
    """make_samples' works and uploads (edited copies and unrelated photos)."""
    make_samples = env_path("IMPRINT_MAKE_SAMPLES")
    root = tmp_path_factory.mktemp("samples")
    subprocess.run([make_samples, str(root)], check=True, capture_output=True)
    works = sorted(str(p) for p in (root / "works").iterdir())
    uploads = sorted(str(p) for p in (root / "uploads").iterdir())
    assert len(works) >= 4 and len(uploads) >= 4
    return {"root": root, "works": works, "uploads": uploads}
