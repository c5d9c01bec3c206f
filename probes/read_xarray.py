"""Read a fixture with xarray: open_zarr and open_dataset(engine="zarr"), on a
store object and on an fsspec URL. mask_and_scale=False, so that the bytes
compared are the stored ones, not CF-decoded ones."""


import xarray as xr
import zarr

from _zarr_compat import fixture_store
from _zmprobe import Call, Method, Opened, fsspec_url, main_guard, nested_root, run_reader, version_of


def versions():
    return {"library_version": xr.__version__, "zarr_version": zarr.__version__,
            "fsspec_version": version_of("fsspec")}


def split(path):
    group, _, name = path.rpartition("/")
    return group or None, name


class XarrayMethod(Method):
    """Opens one dataset per group that holds wanted arrays, and reads variables by name."""

    opener = "open_zarr"

    # Whether the target itself names a store nested in the zip (a URL does); else it is a group to xarray.
    target_names_root = False

    def target(self, fixture):
        raise NotImplementedError

    def call(self, fixture, group=None):
        kwargs = {"engine": "zarr"} if self.opener == "open_dataset" else {}
        if not self.target_names_root:
            group = "/".join(p for p in (nested_root(fixture), group) if p)
        if group:
            kwargs["group"] = group
        kwargs["mask_and_scale"] = False
        return Call("xarray." + self.opener, getattr(xr, self.opener), self.target(fixture), **kwargs)

    def reader(self, root, fixture):
        cache = {None: root}

        def dataset(group):
            if group not in cache:
                cache[group] = self.call(fixture, group)()
            return cache[group]

        def read(spec):
            group, name = split(spec["path"])
            return dataset(group)[name].values

        return Opened(read, lambda: sorted(root.variables))


class OpenZarrStore(XarrayMethod):
    name = "open_zarr-store"

    def target(self, fixture):
        return fixture_store(fixture)


class OpenDatasetStore(OpenZarrStore):
    name = "open_dataset-store"
    opener = "open_dataset"


class OpenZarrUrl(XarrayMethod):
    name = "open_zarr-fsspec-url"
    target_names_root = True

    def available(self):
        return version_of("fsspec") is not None

    def target(self, fixture):
        return fsspec_url(fixture)


class OpenDatasetUrl(OpenZarrUrl):
    name = "open_dataset-fsspec-url"
    opener = "open_dataset"


if __name__ == "__main__":
    methods = (OpenZarrStore(), OpenDatasetStore(), OpenZarrUrl(), OpenDatasetUrl())
    main_guard(lambda: run_reader("xarray", {m.name: m for m in methods}, versions))
