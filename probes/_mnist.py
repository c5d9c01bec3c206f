"""MNIST for the fixtures: parse the IDX files, or make MNIST-shaped synthetic data.

The download and its checksums are the host's business (zarrmatrix.mnist); a
probe only reads the folder it is handed, and never touches the network.
"""

import gzip
import os
import struct

import numpy as np

# Each split's (images, labels) files, and its size, which synthetic data of the split copies.
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}

# IDX type codes (the third byte of the magic number); MNIST uses only 0x08.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """An IDX file (plain or .gz) as a numpy array, shape and type from its header."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError("%s: not an IDX file (bad magic number)" % path)
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_TYPES:
        raise ValueError("%s: unknown IDX type code 0x%02x" % (path, type_code))
    header = 4 + 4 * ndim
    shape = struct.unpack(">" + "I" * ndim, data[4:header])
    dtype = np.dtype(_IDX_TYPES[type_code])
    count = int(np.prod(shape)) if shape else 1
    if len(data) - header != count * dtype.itemsize:
        raise ValueError("%s: header says %s items, the file holds %d bytes of data"
                         % (path, shape, len(data) - header))
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def find(folder, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError("%s: no %s or %s.gz" % (folder, stem, stem))


def load(folder, split):
    images_stem, labels_stem, _ = SPLITS[split]
    images = read_idx(find(folder, images_stem))
    labels = read_idx(find(folder, labels_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError("%s: images %s and labels %s do not pair up" % (folder, images.shape, labels.shape))
    return images, labels


def synthesize(count=60000, seed=0):
    """Digit-like 28x28 uint8 images: mostly background, a few bright strokes,
    so that they compress about as well as the real ones do."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    templates = []
    for digit in range(10):
        canvas = np.zeros((28, 28))
        for _ in range(3 + digit % 4):
            cy, cx = rng.uniform(7, 21, size=2)
            ry, rx = rng.uniform(2, 7, size=2)
            ring = np.abs(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 - 1.0)
            canvas = np.maximum(canvas, np.clip(1.0 - ring * 3.0, 0, 1))
        templates.append(canvas)
    templates = np.stack(templates)
    labels = rng.integers(0, 10, size=count).astype("uint8")
    shifts = rng.integers(-2, 3, size=(count, 2))
    images = np.empty((count, 28, 28), dtype="uint8")
    for digit in range(10):
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                sel = (labels == digit) & (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
                if sel.any():
                    img = np.roll(np.roll(templates[digit], dy, axis=0), dx, axis=1)
                    images[sel] = (img * 255).astype("uint8")
    noise = rng.integers(0, 40, size=images.shape, dtype="uint8")
    images = np.where(images > 0, np.clip(images.astype("int16") - noise, 0, 255), 0).astype("uint8")
    return images, labels


def load_or_synthesize(mnist):
    """(images, labels, source) of the split the request names: source is the folder, or 'synthetic'."""
    folder, split = mnist["dir"], mnist["split"]
    if folder:
        images, labels = load(folder, split)
        return images, labels, os.path.abspath(folder)
    images, labels = synthesize(count=SPLITS[split][2])
    return images, labels, "synthetic"
