"""Read a fixture with xarray: open_zarr and open_dataset(engine="zarr"), on a
store object and on an fsspec URL. mask_and_scale=False, so that the bytes
compared are the stored ones, not CF-decoded ones."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import xarray as xr  # noqa: E402
import zarr  # noqa: E402

from _zmprobe import Method, Opened, main_guard, major, run_reader, version_of  # noqa: E402

ZARR_MAJOR = major(zarr.__version__)


def versions():
    return {"library_version": xr.__version__, "zarr_version": zarr.__version__,
            "fsspec_version": version_of("fsspec")}


def split(path):
    group, _, name = path.rpartition("/")
    return group or None, name


class XarrayMethod(Method):
    """Opens one dataset per group that holds wanted arrays, and reads variables by name."""

    opener = "open_zarr"

    def target(self, fixture):
        raise NotImplementedError

    def target_code(self, fixture):
        raise NotImplementedError

    def call(self, fixture, group):
        extra = ", engine='zarr'" if self.opener == "open_dataset" else ""
        grp = ", group=%r" % group if group else ""
        return "xarray.%s(%s%s%s, mask_and_scale=False)" % (self.opener, self.target_code(fixture), extra, grp)

    def describe(self, fixture):
        return self.call(fixture, None)

    def open(self, fixture):
        cache = {}
        calls = []

        def dataset(group):
            if group not in cache:
                kwargs = {"mask_and_scale": False}
                if group:
                    kwargs["group"] = group
                calls.append(self.call(fixture, group))
                if self.opener == "open_dataset":
                    cache[group] = xr.open_dataset(self.target(fixture), engine="zarr", **kwargs)
                else:
                    cache[group] = xr.open_zarr(self.target(fixture), **kwargs)
            return cache[group]

        def read(spec):
            group, name = split(spec["path"])
            return dataset(group)[name].values

        def walk():
            ds = dataset(None)
            return sorted(ds.variables)

        dataset(None)
        return Opened(self.describe(fixture), read, walk)


def store_object(fixture):
    p = fixture["path"]
    if fixture["variant"] == "zip":
        return zarr.ZipStore(p, mode="r") if ZARR_MAJOR < 3 else zarr.storage.ZipStore(p, mode="r")
    return zarr.DirectoryStore(p) if ZARR_MAJOR < 3 else zarr.storage.LocalStore(p, read_only=True)


def store_code(fixture):
    p = fixture["path"]
    if fixture["variant"] == "zip":
        return ("zarr.ZipStore(%r, mode='r')" if ZARR_MAJOR < 3 else "zarr.storage.ZipStore(%r, mode='r')") % p
    return ("zarr.DirectoryStore(%r)" if ZARR_MAJOR < 3 else "zarr.storage.LocalStore(%r, read_only=True)") % p


def url(fixture):
    p = os.path.abspath(fixture["path"])
    return ("zip::file://%s" if fixture["variant"] == "zip" else "file://%s") % p


class OpenZarrStore(XarrayMethod):
    name = "open_zarr-store"

    def target(self, fixture):
        return store_object(fixture)

    def target_code(self, fixture):
        return store_code(fixture)


class OpenDatasetStore(OpenZarrStore):
    name = "open_dataset-store"
    opener = "open_dataset"


class OpenZarrUrl(XarrayMethod):
    name = "open_zarr-fsspec-url"

    def available(self):
        return version_of("fsspec") is not None

    def target(self, fixture):
        return url(fixture)

    def target_code(self, fixture):
        return repr(url(fixture))


class OpenDatasetUrl(OpenZarrUrl):
    name = "open_dataset-fsspec-url"
    opener = "open_dataset"


if __name__ == "__main__":
    methods = (OpenZarrStore(), OpenDatasetStore(), OpenZarrUrl(), OpenDatasetUrl())
    main_guard(lambda: run_reader("xarray", {m.name: m for m in methods}, versions))
