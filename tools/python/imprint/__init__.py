"""imprint: PDQ fingerprints bit-exact with Meta's reference, and matching against a catalog of
registered works with their licences.

    import imprint
    h = imprint.hash_image("photo.jpg")          # or bytes, or a numpy HxWx3 uint8 RGB array
    h.hex, h.quality                             # the same as `imprint hash`
    imprint.hash_images(paths, threads=0)        # a batch, in input order, errors per item
    imprint.distance(h, "f8f8...")               # Hamming distance, hex strings accepted
    with imprint.Catalog("catalog-dir") as cat:  # read-only unless writable=True
        cat.query(["a.jpg", h], purpose="ai-training")   # dicts as `imprint query --json`
    imprint.scan("catalog-dir", ["shard-000.tar"], "report", shard=(0, 4))  # `imprint scan`

The native code is imprint._imprint; the GIL is released while it hashes and matches.
"""
from ._imprint import (Catalog, Error, Hash, __version__, distance, hash_image, hash_images,
                       scan)

__all__ = ["Catalog", "Error", "Hash", "distance", "hash_image", "hash_images", "scan"]
