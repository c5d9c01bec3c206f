"""zarrmatrix: which library, at which version, can read a Zarr store in a zip file, and how fast are the stores."""

__version__ = "0.1.0"
