import zipfile

from zarrmatrix.fixtures import discover, extract_control, zarr_root


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_sniffs_the_zarr_format(tmp_path):
    assert zarr_root(make_zip(tmp_path / "v3.zip", {"zarr.json": "{}", "a/zarr.json": "{}"}))[1] == 3
    assert zarr_root(make_zip(tmp_path / "v2.zip", {".zgroup": "{}", "a/.zarray": "{}"}))[1] == 2
    assert zarr_root(make_zip(tmp_path / "none.zip", {"readme.txt": "hi"}))[1] is None
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    assert zarr_root(tmp_path / "broken.zip")[1] is None


def test_control_is_extracted_once_and_holds_only_the_zip(tmp_path):
    zip_path = make_zip(tmp_path / "f.zip", {".zgroup": "{}", "a/0.0": "x"})
    controls = tmp_path / "controls"
    folder, error = extract_control(zip_path, controls)
    assert error is None and sorted(p.name for p in folder.rglob("*")) == [".zgroup", "0.0", "a"]
    first = (folder / "a" / "0.0").stat().st_mtime_ns
    again, _ = extract_control(zip_path, controls)
    assert again == folder and (folder / "a" / "0.0").stat().st_mtime_ns == first


def test_broken_and_hostile_zips(tmp_path):
    (tmp_path / "cut.zip").write_bytes(make_zip(tmp_path / "whole.zip", {"a": "x" * 100}).read_bytes()[:40])
    folder, error = extract_control(tmp_path / "cut.zip", tmp_path / "controls")
    assert folder is None and "BadZipFile" in error
    hostile = make_zip(tmp_path / "evil.zip", {"../../outside.txt": "x", ".zgroup": "{}"})
    folder, error = extract_control(hostile, tmp_path / "controls")
    assert error is None and not (tmp_path / "outside.txt").exists()
    assert (folder / "outside.txt").exists()


def test_discover_pairs_zips_with_manifests(tmp_path):
    make_zip(tmp_path / "b.zip", {"zarr.json": "{}"})
    make_zip(tmp_path / "a.zip", {".zgroup": "{}"})
    (tmp_path / "a.zip.manifest.json").write_text('{"zarr_format": 2, "arrays": []}')
    found = discover(tmp_path)
    assert [f.name for f in found] == ["a.zip", "b.zip"]
    assert found[0].manifest is not None and found[1].manifest is None
    assert (found[0].zarr_format, found[1].zarr_format) == (2, 3)


def test_a_control_folder_never_looks_like_a_zip(tmp_path):
    # zarr 2 opens any path ending in .zip as a ZipStore: a control named so would read as a broken zip.
    for name in ("a.zip", "a.ozx", "a.bin"):
        make_zip(tmp_path / name, {".zgroup": "{}"})
    folders = {extract_control(tmp_path / n, tmp_path / "controls")[0].name for n in ("a.zip", "a.ozx", "a.bin")}
    assert folders == {"a", "a_ozx", "a_bin"}
