"""imprint.Catalog: query answers equal to `imprint query --json`, and registration, removal,
works and stats equal to the CLI's, on make_samples' photos and on pictures made here."""
import json
import os
import pathlib

import numpy as np
import pytest

import imprint
from conftest import png_bytes, run_cli, synthetic_photo


@pytest.fixture(scope="module")
def demo_catalog(samples, imprint_binary, tmp_path_factory):
    """The demo's catalog: make_samples' works registered by the CLI, AI training denied,
    commercial use licensed to Acme Corp."""
    catalog = str(tmp_path_factory.mktemp("demo") / "catalog")
    # The paths go first: --licensee takes several values and would swallow them.
    run_cli(imprint_binary, "register", "--catalog", catalog, *samples["works"], "--owner",
            "Demo Studio", "--deny", "ai-training", "--licensed", "commercial", "--licensee",
            "Acme Corp")
    assert len(run_cli(imprint_binary, "works", "list", "--catalog", catalog)) == len(samples["works"])
    return catalog


def cli_query(binary, catalog, queries, *flags):
    return [json.loads(line) for line in
            run_cli(binary, "query", "--catalog", catalog, "--json", *flags, *queries)]


QUERY_FLAGS = [
    ({"purpose": "ai-training"}, ["--purpose", "ai-training"]),
    ({"purpose": "commercial", "licensee": "Acme Corp"},
     ["--purpose", "commercial", "--licensee", "Acme Corp"]),
    ({"min_score": 0, "top_k": 5}, ["--min-score", "0", "--top-k", "5"]),
    ({"mode": "fast", "threads": 1}, ["--mode", "fast", "--threads", "1"]),
]


@pytest.mark.parametrize("kwargs,flags", QUERY_FLAGS)
def test_query_equals_imprint_query_json(demo_catalog, samples, imprint_binary, kwargs, flags):
    work_hash = imprint.hash_image(samples["works"][0]).hex
    queries = samples["uploads"] + samples["works"][:2] + [work_hash]
    expected = cli_query(imprint_binary, demo_catalog, queries, *flags)
    assert len(expected) == len(queries)
    with imprint.Catalog(demo_catalog) as cat:
        got = cat.query(queries, **kwargs)
    assert got == expected
    # The answers are real ones: edited copies flagged for AI training, unrelated photos not.
    if kwargs.get("purpose") == "ai-training":
        decisions = {os.path.basename(a["path"]): a["decision"] for a in got}
        assert decisions["upload-01-recompressed.jpg"] == "flag"
        assert decisions["upload-03-mirrored.jpg"] == "flag"
        assert decisions["upload-08-unrelated.jpg"] == "none"
        assert got[-1]["matches"][0]["work_id"] == pathlib.Path(samples["works"][0]).stem


def test_query_takes_bytes_arrays_and_hashes_with_labels(demo_catalog, samples):
    upload = samples["uploads"][0]
    data = pathlib.Path(upload).read_bytes()
    with imprint.Catalog(demo_catalog) as cat:
        by_path, by_bytes, by_hash = cat.query([upload, data, imprint.hash_image(upload)],
                                               purpose="ai-training")
        assert by_bytes["path"] == "<bytes #1>"
        assert {**by_bytes, "path": upload} == by_path
        assert by_hash["matches"][0]["work_id"] == by_path["matches"][0]["work_id"]
        labelled = cat.query([data], labels=["upload-1"], purpose="ai-training")[0]
        assert labelled["path"] == "upload-1"
        bad = cat.query([b"junk", upload, "/nonexistent.jpg"])
        assert isinstance(bad[0], imprint.Error) and bad[1]["path"] == upload
        assert bad[2].code == "not_found"
        with pytest.raises(imprint.Error):
            cat.query([b"junk"], errors="raise")
        with pytest.raises(imprint.Error) as e:
            cat.query([upload], purpose="world-domination")
        assert e.value.code == "invalid_argument"
        assert not cat.writable
        with pytest.raises(imprint.Error) as e:
            cat.register([upload])
        assert e.value.code == "failed_precondition"
    assert cat.closed
    with pytest.raises(imprint.Error):
        cat.query([upload])


def test_register_remove_works_and_stats_agree_with_the_cli(tmp_path, imprint_binary):
    catalog = str(tmp_path / "catalog")
    pictures = [synthetic_photo(seed, 256, 320) for seed in (11, 12, 13, 14)]
    files = []
    for i, p in enumerate(pictures[:3]):
        f = tmp_path / f"work-{i}.png"
        f.write_bytes(png_bytes(p))
        files.append(str(f))
    licence = {"ai-training": "deny", "commercial": {"licensed": ["Acme"]}, "any-use": "allow"}
    with imprint.Catalog(catalog, writable=True) as cat:
        done = cat.register(files + [png_bytes(pictures[3]), png_bytes(pictures[3])],
                            ids=["", "", "w2", "from-bytes", ""], owner="Ana", licence=licence)
        assert [d["work_id"] for d in done[:4]] == ["work-0", "work-1", "w2", "from-bytes"]
        assert isinstance(done[4], imprint.Error)  # bytes without an id
        assert done[0]["pdq"] == imprint.hash_image(files[0]).hex
        assert done[0]["path"] == files[0] and done[0]["source"] == files[0]
        assert done[0]["licence"]["commercial"] == {"licensed": ["Acme"]}
        again = cat.register([files[0]])
        assert again[0].code == "already_exists"
        assert cat.register([files[0]], replace=True)[0]["work_id"] == "work-0"
        # A second writer is refused while this one holds the catalog.
        with pytest.raises(imprint.Error) as e:
            imprint.Catalog(catalog, writable=True)
        assert e.value.code == "failed_precondition"

        # Readers (the CLI) see what was registered, and the module answers as they do.
        expected = [json.loads(l) for l in run_cli(imprint_binary, "works", "list", "--catalog",
                                                   catalog, "--json")]
        assert cat.works() == expected and len(expected) == 4
        assert cat.works(owner="Ana", limit=2) == expected[:2]
        # Registration order: work-0 was replaced last.
        assert [w["work_id"] for w in expected] == ["work-1", "w2", "from-bytes", "work-0"]
        assert cat.work("w2") == expected[1] and expected[1]["title"] == "work-2"
        brighter = np.clip(pictures[1].astype(int) + 10, 0, 255).astype(np.uint8)
        mirrored = pictures[2][:, ::-1]
        unrelated = synthetic_photo(99, 256, 320)
        queries = [files[0], png_bytes(brighter), png_bytes(mirrored), png_bytes(unrelated)]
        qfiles = []
        for i, q in enumerate(queries[1:]):
            f = tmp_path / f"query-{i}.png"
            f.write_bytes(q)
            qfiles.append(str(f))
        got = cat.query([files[0]] + qfiles, purpose="ai-training")
        assert got == cli_query(imprint_binary, catalog, [files[0]] + qfiles,
                                "--purpose", "ai-training")
        assert [a["decision"] for a in got] == ["flag", "flag", "flag", "none"]
        assert got[0]["matches"][0]["method"] == "sha256"
        assert got[1]["matches"][0]["work_id"] == "work-1"
        assert got[2]["matches"][0]["transform"] == "flip-y"
        assert cat.query([brighter], purpose="any-use")[0]["decision"] == "allow"
        assert cat.query([brighter], purpose="commercial", licensee="Acme")[0]["decision"] == "allow"

        cat.remove("work-1")
        with pytest.raises(imprint.Error) as e:
            cat.remove("work-1")
        assert e.value.code == "not_found"
        assert cat.query([qfiles[0]], purpose="ai-training")[0]["decision"] == "none"
    stats = json.loads("\n".join(run_cli(imprint_binary, "stats", "--catalog", catalog, "--json")))
    with imprint.Catalog(catalog) as cat:
        assert cat.stats() == stats
        # work-0 was replaced without an owner.
        assert stats["works"] == 3 and stats["works_by_owner"] == {"Ana": 2, "(none)": 1}
