import gzip
import struct
import sys

import numpy as np
import pytest

from zarrmatrix.mnist import prepare

from .conftest import PROBES

sys.path.insert(0, str(PROBES))
import _mnist  # noqa: E402


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(">u1").tobytes()


@pytest.fixture
def tiny_mnist(tmp_path):
    images = np.arange(3 * 28 * 28, dtype="uint8").reshape(3, 28, 28)
    labels = np.array([7, 2, 1], dtype="uint8")
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(idx_bytes(labels))
    return folder, images, labels


def test_reads_idx_plain_and_gzipped(tiny_mnist):
    folder, images, labels = tiny_mnist
    got_images, got_labels = _mnist.load(str(folder), "test")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_rejects_broken_idx(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x01\x02\x08\x03")
    with pytest.raises(ValueError, match="bad magic"):
        _mnist.read_idx(str(bad))
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="header says"):
        _mnist.read_idx(str(short))


def test_prepare_checks_gzipped_files_against_the_published_sha256(tiny_mnist, tmp_path):
    folder, _, _ = tiny_mnist
    with pytest.raises(ValueError, match="SHA-256 does not match"):
        prepare(str(folder), split="test", download=False, into=tmp_path / "into")


def test_prepare_uses_a_local_folder(tiny_mnist, tmp_path):
    folder, _, labels = tiny_mnist
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    # Files of the other split are left where they are.
    (folder / "train-images-idx3-ubyte").write_bytes(idx_bytes(labels))
    into, note = prepare(str(folder), split="test", download=False, into=tmp_path / "into")
    assert "real MNIST test set" in note
    assert sorted(p.name for p in (tmp_path / "into").iterdir()) == ["t10k-images-idx3-ubyte",
                                                                      "t10k-labels-idx1-ubyte"]


def test_prepare_names_the_split_a_folder_lacks(tiny_mnist, tmp_path):
    folder, _, _ = tiny_mnist
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz.*for the train set"):
        prepare(str(folder), split="train", download=False, into=tmp_path / "into")


def test_prepare_falls_back_to_synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder, note = prepare(None, split="test", download=False, into=tmp_path / "into")
    assert folder is None and "synthetic" in note and "\n" not in note


def test_synthetic_is_mnist_shaped():
    images, labels = _mnist.synthesize(count=500)
    assert images.shape == (500, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (500,) and set(np.unique(labels)) <= set(range(10))
    assert 0.5 < (images == 0).mean() < 0.95


@pytest.mark.parametrize(("split", "count"), [("test", 10000), ("train", 60000)])
def test_synthetic_data_has_the_size_of_its_split(split, count, monkeypatch):
    made = {}
    monkeypatch.setattr(_mnist, "synthesize", lambda count: made.setdefault("count", count) and (None, None))
    _mnist.load_or_synthesize({"dir": None, "split": split})
    assert made["count"] == count
