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


@pytest.fixture(scope="session")
def pdq_reference():
    path = os.path.join(SOURCE_DIR, "..", "shared", "pdq-reference")
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
    """A smooth colourful picture (sums of random waves): high PDQ quality, unlike noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.zeros((height, width, 3))
    for c in range(3):
        for _ in range(6):
            fx, fy = rng.uniform(-0.06, 0.06, size=2)
            out[:, :, c] += rng.uniform(0.5, 1.0) * np.sin(fx * x + fy * y + rng.uniform(0, 6.3))
    out -= out.min()
    return (out * (255.0 / out.max())).astype(np.uint8)


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
