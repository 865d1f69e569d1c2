"""imprint.hash_image / hash_images / distance: the same hashes as Meta's reference and as
`imprint hash`, from paths, bytes and numpy pixels; errors as imprint.Error, never a crash."""
import csv
import os
import pathlib
import subprocess
import threading

import numpy as np
import pytest

import imprint
from conftest import png_bytes, synthetic_photo


def test_the_module_under_test_is_the_one_this_build_made():
    build_dir = os.environ["IMPRINT_PYTHON_DIR"]
    assert os.path.realpath(imprint.__file__).startswith(os.path.realpath(build_dir) + os.sep)


def reference_rows(pdq_reference, name):
    with open(os.path.join(pdq_reference, "expected", name)) as f:
        return [row for row in csv.reader(f) if row]


def reference_paths(pdq_reference):
    with open(os.path.join(pdq_reference, "list.txt")) as f:
        return [os.path.join(pdq_reference, "images", line.strip()) for line in f if line.strip()]


def test_exact_mode_equals_the_reference_library_with_dihedral_hashes(pdq_reference):
    rows = reference_rows(pdq_reference, "full.csv")
    assert len(rows) == 44
    paths = [os.path.join(pdq_reference, "images", row[-1]) for row in rows]
    hashes = imprint.hash_images(paths, dihedral=True, errors="raise")
    for row, h in zip(rows, hashes):
        assert (h.hex, h.quality) == (row[0], int(row[1])), row[-1]
        assert [hex_ for _, hex_ in h.dihedral] == row[:1] + row[2:9], row[-1]
    # One image at a time gives the same.
    assert imprint.hash_image(paths[0]).hex == hashes[0].hex


def test_reference_cli_mode_equals_pdq_photo_hasher(pdq_reference):
    rows = reference_rows(pdq_reference, "cli.csv")
    assert len(rows) == 49
    for row in rows:
        h = imprint.hash_image(os.path.join(pdq_reference, "images", row[-1]), mode="reference-cli")
        assert (h.hex, h.quality) == (row[0], int(row[1])), row[-1]


@pytest.mark.parametrize("mode", ["exact", "fast", "reference-cli"])
def test_every_mode_equals_imprint_hash(pdq_reference, imprint_binary, mode):
    paths = reference_paths(pdq_reference)
    cli = {}
    proc = subprocess.run(
        [imprint_binary, "hash", "--mode", mode, "--threads", "2", *paths],
        capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        hex_, quality, path = line.split(",", 2)
        cli[path] = (hex_, int(quality))
    assert len(cli) >= 44
    hashes = imprint.hash_images(paths, mode=mode, threads=2)
    for path, h in zip(paths, hashes):
        if path in cli:
            assert (h.hex, h.quality) == cli[path], path
        else:  # what the CLI could not hash, the module reports as an error too
            assert isinstance(h, imprint.Error), path


def test_bytes_pathlike_and_path_give_the_same_hash(pdq_reference):
    path = reference_paths(pdq_reference)[0]
    data = pathlib.Path(path).read_bytes()
    by_path = imprint.hash_image(path)
    for other in (pathlib.Path(path), data, bytearray(data), memoryview(data),
                  np.frombuffer(data, dtype=np.uint8)):
        h = imprint.hash_image(other)
        assert (h.hex, h.quality) == (by_path.hex, by_path.quality)
    assert by_path.sha256 == imprint.hash_image(data).sha256 and len(by_path.sha256) == 64
    assert by_path.format == "jpeg" and by_path.width > 0 and by_path.height > 0


def test_numpy_pixels_hash_as_the_same_pixels_in_a_file(tmp_path):
    rgb = synthetic_photo(1, 300, 410)
    grey = rgb[:, :, 1].copy()
    for pixels in (rgb, grey):
        file_hash = imprint.hash_image(png_bytes(pixels))
        for mode in ("exact", "fast", "reference-cli"):
            assert imprint.hash_image(pixels, mode=mode).hex == imprint.hash_image(
                png_bytes(pixels), mode=mode).hex
        h = imprint.hash_image(pixels)
        assert (h.hex, h.quality) == (file_hash.hex, file_hash.quality)
        assert h.quality >= 50 and h.sha256 is None and h.format is None
    # Views numpy makes without copying: flipped, cropped, strided, channels reversed.
    big = synthetic_photo(2, 600, 800)
    for view in (big[::-1], big[:, ::-1], big[100:400, 50:700], big[::2, ::3], big[:, :, ::-1],
                 np.asfortranarray(big)):
        assert not view.flags["C_CONTIGUOUS"] or view is big
        assert imprint.hash_image(view).hex == imprint.hash_image(np.ascontiguousarray(view)).hex
    assert imprint.hash_image(big[::-1]).hex != imprint.hash_image(big).hex


def test_batch_keeps_input_order_with_errors_in_place_whatever_the_threads(pdq_reference):
    paths = reference_paths(pdq_reference)[:20]
    batch = paths[:5] + ["/nonexistent/x.jpg", b"not an image"] + paths[5:]
    one = imprint.hash_images(batch, threads=1)
    four = imprint.hash_images(batch, threads=4)
    default = imprint.hash_images(batch)
    assert len(one) == len(batch)
    for a, b, c, item in zip(one, four, default, batch):
        if isinstance(a, imprint.Error):
            assert isinstance(b, imprint.Error) and isinstance(c, imprint.Error)
            assert str(a) == str(b)
        else:
            assert a.hex == b.hex == c.hex == imprint.hash_image(item).hex
    assert one[5].code == "not_found" and "/nonexistent/x.jpg" in one[5].message
    assert one[6].code == "invalid_argument"
    with pytest.raises(imprint.Error):
        imprint.hash_images(batch, errors="raise")
    assert imprint.hash_images([]) == []


def test_the_gil_is_released_while_a_batch_is_hashed(pdq_reference):
    paths = reference_paths(pdq_reference) * 3
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = counter[0]
        imprint.hash_images(paths, threads=1)
        during = counter[0] - before
    finally:
        stop.set()
        t.join()
    # With the GIL held for the whole call, the other thread could not count at all.
    assert during > 1000, during


def test_distance_takes_hashes_and_hex_in_either_case():
    a = synthetic_photo(3)
    ha, hb = imprint.hash_image(a), imprint.hash_image(np.clip(a.astype(int) + 12, 0, 255).astype(np.uint8))
    d = imprint.distance(ha, hb)
    assert 0 <= d <= 31
    assert imprint.distance(ha.hex, hb.hex.upper()) == d == ha.distance(hb.hex)
    assert imprint.distance(ha, ha.hex) == 0
    assert imprint.distance("0" * 64, "f" * 64) == 256
    assert imprint.Hash(ha.hex) == ha and str(ha) == ha.hex
    with pytest.raises(imprint.Error) as e:
        imprint.distance("xyz", ha)
    assert e.value.code == "invalid_argument"
    with pytest.raises(TypeError):
        imprint.distance(12, ha)


def hostile_inputs():
    good = png_bytes(synthetic_photo(4, 64, 64))
    jpeg_start = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    # A PNG whose header declares 100000 x 100000 pixels (a decompression bomb).
    bomb = bytearray(good)
    bomb[16:24] = (100000).to_bytes(4, "big") * 2
    return {
        "empty": b"",
        "random": bytes(np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8)),
        "truncated png": good[: len(good) // 2],
        "jpeg header only": jpeg_start,
        "jpeg garbage": jpeg_start + b"\x00" * 5000,
        "png bomb": bytes(bomb),
        "gif header only": b"GIF89a\xff\xff\xff\xff",
        "four channels": np.zeros((10, 10, 4), dtype=np.uint8),
        "zero rows": np.zeros((0, 10, 3), dtype=np.uint8),
    }


@pytest.mark.parametrize("name", sorted(hostile_inputs()))
def test_hostile_input_raises_imprint_error(name):
    data = hostile_inputs()[name]
    with pytest.raises(imprint.Error) as e:
        imprint.hash_image(data)
    assert e.value.code in {"invalid_argument", "resource_exhausted", "unsupported", "corruption"}
    assert e.value.message and str(e.value) == e.value.message
    if name == "png bomb":
        assert e.value.code == "resource_exhausted"
    # And in a batch each fails on its own, in place.
    out = imprint.hash_images([data, png_bytes(synthetic_photo(6))])
    assert isinstance(out[0], imprint.Error) and isinstance(out[1], imprint.Hash)


def test_wrong_python_types_are_type_errors(tmp_path):
    with pytest.raises(TypeError):
        imprint.hash_image(42)
    with pytest.raises(TypeError):
        imprint.hash_image(np.zeros((10, 10, 3), dtype=np.float32))
    with pytest.raises(TypeError):
        imprint.hash_images("a-single-path.jpg")
    with pytest.raises(imprint.Error) as e:
        imprint.hash_image(str(tmp_path))  # a directory
    assert "directory" in str(e.value)
    with pytest.raises(imprint.Error) as e:
        imprint.hash_image(png_bytes(synthetic_photo(7)), mode="slow")
    assert e.value.code == "invalid_argument"
