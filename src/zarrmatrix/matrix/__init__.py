"""matrix.yaml: the model (model.py), its loading and validation (load.py), and the expansion of each entry into
cells (expand.py). Versions rules resolve against the index or the lock (versions.py), the Pythons in pythons.py.

matrix.yaml is read once, into frozen dataclasses. Every error names the file, the key path, the line and what
was expected, so that a typo never reaches a subprocess.
"""

from .config import Overrides
from .load import load_matrix, schema
from .model import (
    IMAGE_PYTHONS,
    SIZE,
    BenchConfig,
    Cell,
    DockerConfig,
    FixtureConfig,
    ImageSpec,
    Limits,
    Matrix,
    MatrixError,
    size_bytes,
)

__all__ = ["IMAGE_PYTHONS", "SIZE", "BenchConfig", "Cell", "DockerConfig", "FixtureConfig", "ImageSpec", "Limits",
           "Matrix", "MatrixError", "Overrides", "load_matrix", "schema", "size_bytes"]
