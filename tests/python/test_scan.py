"""imprint.scan: the `imprint scan` pipeline from Python on WebDataset shards written here with
tarfile, with the same findings as the CLI, a progress callback that can stop it, resume and
shards."""
import io
import json
import os
import tarfile

import numpy as np
import pytest

import imprint
from conftest import png_bytes, run_cli, synthetic_photo


def write_shard(path, samples):
    """A WebDataset shard: KEY.png with KEY.json (url, caption) per sample."""
    with tarfile.open(path, "w") as tar:
        for key, pixels, url in samples:
            for name, data in ((f"{key}.png", png_bytes(pixels)),
                               (f"{key}.json", json.dumps({"url": url, "caption": key}).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    works = [synthetic_photo(seed, 256, 320) for seed in (31, 32, 33)]
    catalog = str(root / "catalog")
    with imprint.Catalog(catalog, writable=True) as cat:
        done = cat.register([png_bytes(w) for w in works], ids=["w0", "w1", "w2"], owner="Ana")
        assert all(isinstance(d, dict) for d in done)
    shards = []
    for s in range(3):
        samples = [(f"{s:03d}{i:03d}", synthetic_photo(1000 + 10 * s + i, 200, 260),
                    f"https://example.org/{s}/{i}") for i in range(6)]
        # A planted copy per shard: brighter, mirrored or as it is.
        copy = works[s]
        copy = [np.clip(copy.astype(int) + 12, 0, 255).astype(np.uint8), copy[:, ::-1], copy][s]
        samples.append((f"{s:03d}copy", copy, f"https://example.org/{s}/copy"))
        path = str(root / f"shard-{s:03d}.tar")
        write_shard(path, samples)
        shards.append(path)
    return {"root": root, "catalog": catalog, "shards": shards}


def findings(report):
    with open(os.path.join(report, "findings.jsonl")) as f:
        return sorted((json.loads(line) for line in f), key=lambda j: json.dumps(j, sort_keys=True))


def test_scan_finds_the_planted_copies_as_the_cli_does(corpus, imprint_binary):
    cli_report = str(corpus["root"] / "cli-report")
    run_cli(imprint_binary, "scan", "--catalog", corpus["catalog"], "--report", cli_report,
            "--threads", "2", "--progress", "none", *corpus["shards"])
    calls = []
    report = str(corpus["root"] / "py-report")
    summary = imprint.scan(corpus["catalog"], corpus["shards"], report, threads=2,
                           progress=lambda p: calls.append(p))
    got = findings(report)
    assert got == findings(cli_report)
    assert sorted((f["key"], f["work_id"], f["decision"]) for f in got) == [
        ("000copy", "w0", "flag"), ("001copy", "w1", "flag"), ("002copy", "w2", "flag")]
    assert summary["totals"]["items"] == 21 and summary["totals"]["flagged"] == 3
    with open(os.path.join(report, "summary.json")) as f:
        assert json.load(f) == summary
    assert calls and calls[-1]["items"] == 21 and calls[-1]["flagged"] == 3
    assert os.path.exists(os.path.join(report, "report.html"))


def test_a_callback_returning_false_stops_the_scan_and_resume_completes_it(corpus):
    report = str(corpus["root"] / "stopped")
    summary = imprint.scan(corpus["catalog"], corpus["shards"], report, threads=1,
                           progress=lambda p: False)
    assert summary["totals"]["items"] < 21
    full = imprint.scan(corpus["catalog"], corpus["shards"], report, resume=True)
    assert full["totals"]["items"] == 21 and full["totals"]["flagged"] == 3
    assert findings(report) == findings(str(corpus["root"] / "py-report"))


def test_an_exception_in_the_callback_stops_the_scan_and_is_raised(corpus):
    def boom(p):
        raise ValueError("stop here")
    with pytest.raises(ValueError, match="stop here"):
        imprint.scan(corpus["catalog"], corpus["shards"], str(corpus["root"] / "boom"),
                     progress=boom)


def test_shards_of_a_scan_add_up_to_the_whole(corpus):
    items = flagged = 0
    for i in range(2):
        s = imprint.scan(corpus["catalog"], corpus["shards"], str(corpus["root"] / f"part-{i}"),
                         shard=(i, 2))
        items += s["totals"]["items"]
        flagged += s["totals"]["flagged"]
    assert (items, flagged) == (21, 3)


def test_a_scan_that_cannot_run_raises_imprint_error(corpus, tmp_path):
    with pytest.raises(imprint.Error) as e:
        imprint.scan(str(tmp_path / "no-catalog"), corpus["shards"], str(tmp_path / "r"))
    assert e.value.message
    with pytest.raises(ValueError):
        imprint.scan(corpus["catalog"], corpus["shards"], str(tmp_path / "r2"), shard=(2, 2))
