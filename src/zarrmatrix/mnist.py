"""MNIST for the fixtures, its test set (10,000 images) or its training set
(60,000): a local folder, the user cache, or the canonical mirrors, each file
checked against its published SHA-256.

The test set is the default: GDAL's classic API makes each image a band, and
rasterio reads N bands in time that grows with N squared (`nox -s
bench-bands`; osgeo.gdal on the same GDAL does not): the training set cost
each rasterio read 180 to 215 s, half of the matrix's 14 minutes on two cores.

When none is available the probe makes MNIST-shaped synthetic data instead,
and every result and report marks it `synthetic`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

SPLITS = {
    "train": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    },
    "test": {
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
DOWNLOAD_TIMEOUT_S = 20


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "zarrmatrix" / "mnist"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _complete(folder: Path, files: dict[str, str]) -> bool:
    """A folder holds the split if it has its files, gzipped (checked) or plain (trusted as given)."""
    for name, digest in files.items():
        gz = folder / name
        if gz.exists():
            if sha256_of(gz) != digest:
                raise ValueError(f"{gz}: SHA-256 does not match the published one")
        elif not (folder / name[:-3]).exists():
            return False
    return True


def _download(folder: Path, files: dict[str, str]) -> str | None:
    """Fetch the files into `folder`; None on success, else why not."""
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for name, digest in files.items():
        target = folder / name
        if target.exists() and sha256_of(target) == digest:
            continue
        for mirror in MIRRORS:
            partial = target.with_suffix(".part")
            try:
                with urllib.request.urlopen(mirror + name, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                        open(partial, "wb") as out:
                    shutil.copyfileobj(response, out)
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                failures.append(f"{mirror}: {getattr(exc, 'reason', exc)}")
                partial.unlink(missing_ok=True)
                continue
            if sha256_of(partial) != digest:
                failures.append(f"{mirror}{name}: SHA-256 mismatch")
                partial.unlink()
                continue
            partial.replace(target)
            break
        else:
            return failures[-1].split(": ", 1)[-1]
    return None


def prepare(local: str | None, *, split: str, download: bool, into: Path) -> tuple[str | None, str]:
    """(folder for the probe, holding only the split's files; one line for the user). None means: use
    synthetic data."""
    files = SPLITS[split]
    if local:
        folder = Path(local).expanduser()
        if not folder.is_dir() or not _complete(folder, files):
            raise FileNotFoundError(f"--mnist-dir {folder}: needs {', '.join(files)} (or the same unzipped) for "
                                    f"the {split} set (fixtures.mnist_split)")
        source = folder
    else:
        source = cache_dir()
        if not (source.is_dir() and _complete(source, files)):
            why = _download(source, files) if download else "downloads are turned off (fixtures.mnist_download)"
            if why is not None:
                return None, f"no local copy, mirrors unreachable ({why[:80]}); using MNIST-shaped " \
                             "synthetic data, marked synthetic"
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    for name in files:
        for candidate in (source / name, source / name[:-3]):
            if candidate.exists():
                shutil.copy2(candidate, into / candidate.name)
    return str(into), f"using the real MNIST {split} set from {source}"
