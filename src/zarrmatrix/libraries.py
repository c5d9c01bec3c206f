"""What each library is, in one row: where it comes from, which probe reads with
it, what it can write, whether it benches, whether it needs an image, and what
it cannot do by design. Everything else (matrix validation, the schemas' enums,
verdicts, the runner, the report's order) is derived from this table.

Adding a library is one row here and one probe in probes/.
"""

from __future__ import annotations

from dataclasses import dataclass

from .runtimes import NODE, PYTHON, Runtime


@dataclass(frozen=True)
class Library:
    name: str
    # The PyPI distribution a cell's `versions` pin; None where the bindings come from an image.
    distribution: str | None
    # The code that parses Zarr underneath (xarray and fsspec reach zarr-python, rasterio reaches GDAL):
    # the report's implementation x implementation overview groups by it.
    implementation: str
    # The fixture kinds a writer cell of this library may write.
    writes: tuple[str, ...] = ()
    benches: bool = False
    needs_image: bool = False
    # Why a Zarr store is outside what the library is built for: its errors are `n/a`, not failures.
    not_by_design: str | None = None
    # The probe under probes/ that writes this library's fixtures.
    writer_probe: str = "write_fixtures.py"
    # What runs the probes: Python (a uv venv or an image), or Node (an npm folder; `distribution` is then
    # an npm package).
    runtime: Runtime = PYTHON
    # Methods that see a store as GDAL's classic raster API does: bands stacked into one raster at the
    # root, not the arrays by name. Their reading is a reference only where no by-name reader reads the store,
    # and then under the names the metadata gives.
    stacked_methods: tuple[str, ...] = ()
    # The keys of the capabilities probe's output that describe this library's code (shown in the provenance).
    capability_keys: tuple[str, ...] = ()
    # Where the report follows the releases of the implementation this library reads with: the path of that
    # version in the cell's capabilities, or () for the cell's own version. None: not followed.
    release_version: tuple[str, ...] | None = None
    # The GDAL APIs whose read time against the band count probes/bench_bands.py measures (`--phase bands`).
    bands_apis: tuple[str, ...] = ()
    # The one method that reads the feature fixtures, where the probe has several: a feature is a question of
    # decoding, and how each method opens a zip is the matrix's question, asked on the other fixtures.
    feature_method: str | None = None
    # Whether the sharded-read benchmark's probe (bench_sharded.py or .mjs) reads its array with this library
    # (`--phase sharded`).
    sharded_reader: bool = False

    @property
    def probe(self) -> str:
        """The probe under probes/ that reads a fixture with this library."""
        return f"read_{self.name}.{self.extension}"

    @property
    def sharded_probe(self) -> str:
        return f"bench_sharded.{self.extension}"

    @property
    def capabilities_probe(self) -> str:
        """The probe that reports what a cell's environment holds."""
        return f"capabilities.{self.extension}"

    @property
    def extension(self) -> str:
        return self.runtime.extension


# One fixture per feature of the catalogue (probes/features.json) in that Zarr format, each written through the
# library's own API where it can express the feature.
FEATURE_KINDS = ("features-v2", "features-v3")
# How people pack a Zarr folder into a zip (probes/_packing.py), each in format 2 and 3.
PACKINGS = ("nested", "dirs", "macos", "zip64", "shuffled")
ZARR_KINDS = (
    "zipstore-v2", "zipstore-v3", "zipstore-raw-v2", "zipstore-raw-v3",
    "dirzip-stored-v2", "dirzip-deflated-v2", "dirzip-stored-v3", "dirzip-deflated-v3",
    "mnist-zipstore-v2", "mnist-zipstore-v3",
    *(f"pack-{how}-v{fmt}" for how in PACKINGS for fmt in (2, 3)),
    # An OME-Zarr 0.5 image written by ome-zarr (a writer cell pins it), packed as RFC-9 asks and against it.
    "ozx-rfc9-v3", "ozx-against-rfc9-v3",
    # The same image written and zipped by ngff-zarr (a writer cell pins it), an RFC-9 writer of its own.
    "ozx-ngff-zarr-v3",
    *FEATURE_KINDS,
)

# GDAL's Zarr driver, in format 2 and 3: into a folder zipped afterwards, and straight into /vsizip/.
GDAL_KINDS = ("gdal-dirzip-v2", "gdal-dirzip-v3", "gdal-vsizip-v2", "gdal-vsizip-v3")

# In report order: the rows of the matrix are grouped by library in this order.
TABLE = (
    Library("zarr", "zarr", "zarr-python", writes=ZARR_KINDS, benches=True, capability_keys=("zarr",),
            release_version=(), feature_method="store-object", sharded_reader=True),
    Library("xarray", "xarray", "zarr-python", writes=("xarray-zipstore-v2", "xarray-zipstore-v3"), benches=True,
            capability_keys=("zarr",), feature_method="open_zarr-store"),
    Library("fsspec", "fsspec", "zarr-python", capability_keys=("zarr",), feature_method="filesystem-object"),
    Library("netcdf4", "netCDF4", "netCDF-C", writes=("nc-zarr-v2", "nc-nczarr-v2"), writer_probe="write_netcdf4.py",
            capability_keys=("netcdf",), release_version=("netcdf", "netcdf_c"), feature_method="zarr-url"),
    Library("h5py", "h5py", "HDF5", not_by_design="h5py reads HDF5, not Zarr", capability_keys=("hdf5",)),
    Library("gdal", None, "GDAL", needs_image=True, writes=(*GDAL_KINDS, *FEATURE_KINDS), writer_probe="write_gdal.py",
            stacked_methods=("classic",), capability_keys=("gdal",), release_version=("gdal", "version"),
            bands_apis=("classic", "multidim"), feature_method="multidim"),
    Library("rasterio", "rasterio", "GDAL", writes=(*(k.replace("gdal-", "rio-") for k in GDAL_KINDS), *FEATURE_KINDS),
            writer_probe="write_rasterio.py", stacked_methods=("rasterio.open",), capability_keys=("rasterio_gdal",),
            release_version=("rasterio_gdal", "version"), bands_apis=("classic",)),
    Library("tensorstore", "tensorstore", "TensorStore",
            writes=("ts-zarr2-v2", "ts-zarr3-v3", "ts-sharded-v3", "ts-zipkv-v3", *FEATURE_KINDS),
            writer_probe="write_tensorstore.py", sharded_reader=True),
    # VirtualiZarr's parsers map a store to byte ranges (a ManifestStore) that zarr then reads: a zip through
    # ZippedZarrParser, which reads the central directory itself.
    Library("virtualizarr", "virtualizarr", "VirtualiZarr"),
    # zarrs, the Rust implementation, through its Python bindings: zips through zarrs_zip (read only), so it writes
    # v3 into a folder, zipped afterwards.
    Library("zarrista", "zarrista", "zarrs", writes=("zarrs-v3", "features-v3"), writer_probe="write_zarrista.py",
            sharded_reader=True),
    Library("zarrita", "zarrita", "zarrita.js", writes=("zarrita-v3", "zarrita-spec-v3", "features-v3"),
            writer_probe="write_zarrita.mjs", runtime=NODE, sharded_reader=True),
)

LIBRARIES: dict[str, Library] = {lib.name: lib for lib in TABLE}


def implementations() -> tuple[str, ...]:
    """Every implementation, in table order, each once."""
    return tuple(dict.fromkeys(lib.implementation for lib in TABLE))


def fixture_kinds() -> tuple[str, ...]:
    """Every fixture kind some library writes, in table order."""
    return tuple(dict.fromkeys(kind for lib in TABLE for kind in lib.writes))


def writers() -> tuple[str, ...]:
    return tuple(lib.name for lib in TABLE if lib.writes)


def benchers() -> tuple[str, ...]:
    return tuple(lib.name for lib in TABLE if lib.benches)


def sharded_readers() -> tuple[str, ...]:
    return tuple(lib.name for lib in TABLE if lib.sharded_reader)
