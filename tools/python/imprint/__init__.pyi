# Type stubs of the imprint module (tools/python/imprint_module.cc holds the docstrings).
import os
from typing import Any, Callable, Iterable, Literal, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

HashMode = Literal["exact", "fast", "reference-cli"]
Purpose = Literal["ai-training", "commercial", "any-use"]
Errors = Literal["return", "raise"]
# A path, the image file's bytes, or decoded uint8 pixels (HxWx3 RGB or HxW grey).
ImageInput = Union[str, os.PathLike[str], bytes, bytearray, memoryview, npt.NDArray[np.uint8]]
HashLike = Union["Hash", str]  # an imprint.Hash or 64 hex digits

class Error(Exception):
    """An imprint library error; str(e) == e.message."""
    code: Literal["invalid_argument", "not_found", "already_exists", "corruption", "io_error",
                  "unsupported", "resource_exhausted", "failed_precondition", "internal"]
    message: str

class Hash:
    """A PDQ hash with its quality, as `imprint hash` prints them."""
    def __init__(self, hex: str, quality: int = 100) -> None: ...
    @property
    def hex(self) -> str: ...
    @property
    def quality(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def format(self) -> str | None: ...
    @property
    def sha256(self) -> str | None: ...
    @property
    def dihedral(self) -> list[tuple[str, str]] | None: ...
    def distance(self, other: HashLike) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

def hash_image(image: ImageInput, *, mode: HashMode = "exact", dihedral: bool = False,
               exif_orientation: bool = False, max_pixels: int = 100_000_000,
               max_bytes: int = 268_435_456) -> Hash: ...

def hash_images(images: Iterable[ImageInput], *, mode: HashMode = "exact", threads: int = 0,
                dihedral: bool = False, exif_orientation: bool = False,
                max_pixels: int = 100_000_000, max_bytes: int = 268_435_456,
                errors: Errors = "return") -> list[Hash | Error]: ...

def distance(a: HashLike, b: HashLike) -> int: ...

# One answer of Catalog.query: the object `imprint query --json` prints.
QueryAnswer = dict[str, Any]

class Catalog:
    def __init__(self, dir: str, *, writable: bool = False, index: str = "auto") -> None: ...
    def query(self, queries: Iterable[ImageInput | Hash], *, purpose: Purpose = "any-use",
              licensee: str | None = None, top_k: int = 10, min_score: float | None = None,
              mode: HashMode = "exact", threads: int = 0, match_distance: int = 31,
              review_band: int = 8, video_frames: bool = False,
              labels: Sequence[str] | None = None,
              errors: Errors = "return") -> list[QueryAnswer | Error]: ...
    def register(self, images: Iterable[ImageInput], *, ids: Sequence[str] | None = None,
                 titles: Sequence[str] | None = None, owner: str = "",
                 licence: dict[str, Any] | str | None = None, replace: bool = False,
                 threads: int = 0, sources: Sequence[str] | None = None,
                 errors: Errors = "return") -> list[dict[str, Any] | Error]: ...
    def remove(self, id: str) -> None: ...
    def works(self, *, owner: str | None = None, limit: int | None = None) -> list[dict[str, Any]]: ...
    def work(self, id: str) -> dict[str, Any]: ...
    def stats(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Catalog": ...
    def __exit__(self, *args: object) -> None: ...
    @property
    def dir(self) -> str: ...
    @property
    def catalog_id(self) -> str: ...
    @property
    def writable(self) -> bool: ...
    @property
    def closed(self) -> bool: ...

# Arguments of scan's progress callback.
ScanProgress = dict[str, Any]  # items, matched, flagged, errors, seconds, total_items (or None)

def scan(catalog: str | os.PathLike[str] | Catalog, sources: Iterable[str | os.PathLike[str]],
         report_dir: str | os.PathLike[str], *, threads: int = 0,
         shard: tuple[int, int] = (0, 1), resume: bool = False, purpose: Purpose = "ai-training",
         licensee: str | None = None, progress: Callable[[ScanProgress], bool | None] | None = None,
         progress_output: Literal["none", "lines", "bar", "auto"] = "none", top_k: int = 5,
         dihedral: bool = True, second_stage: bool = True,
         video_mode: Literal["exact", "fast"] = "exact",
         save_catalog: str | os.PathLike[str] | None = None, index: str = "auto",
         match_distance: int = 31, review_band: int = 8) -> dict[str, Any]: ...
