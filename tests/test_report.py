import json
import re

import pytest

from zarrmatrix.bench import bench_record
from zarrmatrix.records import CellResult
from zarrmatrix.report import build_report
from zarrmatrix.report.bench import conclusion, scaling
from zarrmatrix.report.model import BenchRow, build_model
from zarrmatrix.results import ResultError, load_results, write_result

HOSTILE = "<script>alert('x')</script> & <b>bold</b>"


def result(cell_id, library, version, records, roles=("read",), status="ok", reason=None):
    return CellResult.from_json({
        "schema_version": 1,
        "cell": {"id": cell_id, "backend": "venv", "library": library, "label": f"{library} {version}",
                 "version": version, "requirements": [f"{library}=={version}"], "roles": list(roles)},
        "status": status, "status_reason": reason,
        "environment": {"python": "3.11.7", "freeze": [f"{library}=={version}"], "image_id": None},
        "host": {"hostname": "h", "platform": "linux", "cpus": 2},
        "started": "2026-11-24T10:00:00+00:00", "duration_s": 1.0, "records": records,
    })


def read(reader, library, fixture, verdict, variant="zip", method="m", **extra):
    rec = {"kind": "read", "reader": reader, "library": library, "library_version": "1", "zarr_version": None,
           "fixture": fixture, "variant": variant, "method": method, "call": f"open({fixture!r})",
           "verdict": verdict, "reason": extra.pop("reason", verdict), "control_verdict": None,
           "repro": f"zarrmatrix reproduce {reader} {fixture} {method}", "error_type": None, "error_message": None}
    rec.update(extra)
    return rec


def fixture(name, writer, fmt):
    return {"kind": "fixture", "fixture": name, "writer": writer, "fixture_kind": f"zipstore-v{fmt}",
            "manifest": {"zarr_format": fmt, "variant": "ZipStore", "arrays": [], "synthetic": False},
            "error": None}


@pytest.fixture
def results_dir(tmp_path):
    folder = tmp_path / "results"
    write_result(folder / "zarr-3.1.6.json", result("zarr-3.1.6", "zarr", "3.1.6", [
        fixture("zarr-3.1.6__zipstore-v3.zip", "zarr-3.1.6", 3),
        read("zarr-3.1.6", "zarr", "zarr-3.1.6__zipstore-v3.zip", "pass"),
        read("zarr-3.1.6", "zarr", "zarr-3.1.6__zipstore-v3.zip", "pass", variant="folder"),
        read("zarr-3.1.6", "zarr", "zarr-2.18.7__zipstore-v2.zip", "pass"),
    ], roles=("write", "read")))
    write_result(folder / "zarr-2.18.7.json", result("zarr-2.18.7", "zarr", "2.18.7", [
        fixture("zarr-2.18.7__zipstore-v2.zip", "zarr-2.18.7", 2),
        read("zarr-2.18.7", "zarr", "zarr-3.1.6__zipstore-v3.zip", "error", error_type="GroupNotFoundError",
             error_message=HOSTILE, reason="no Zarr v3 support"),
        read("zarr-2.18.7", "zarr", "zarr-3.1.6__zipstore-v3.zip", "mismatch", method="other"),
        read("zarr-2.18.7", "zarr", "zarr-3.1.6__zipstore-v3.zip", "pass", variant="folder"),
    ], roles=("write", "read")))
    write_result(folder / "gdal.json", result("gdal", "gdal", "3.6", [], status="skipped",
                                              reason="skipped: needs docker"))
    return folder


def test_write_result_validates_and_is_atomic(tmp_path):
    bad = result("x", "zarr", "1", [read("x", "no-such-library", "f.zip", "pass")])
    with pytest.raises(ResultError, match="records/0"):
        write_result(tmp_path / "x.json", bad)
    assert not list(tmp_path.iterdir())


def test_merge_skips_invalid_files(results_dir):
    (results_dir / "broken.json").write_text("{not json")
    merged = load_results(results_dir)
    assert [r.id for r in merged.results] == ["gdal", "zarr-2.18.7", "zarr-3.1.6"]
    assert len(merged.problems) == 1 and "broken.json" in merged.problems[0]


def test_model_rows_columns_and_best(results_dir):
    model = build_model(load_results(results_dir).results)
    assert [r.id for r in model.readers] == ["zarr-2.18.7", "zarr-3.1.6", "gdal"]
    assert [f.name for f in model.fixtures] == ["zarr-2.18.7__zipstore-v2.zip", "zarr-3.1.6__zipstore-v3.zip"]
    cell = model.cells[("zarr-2.18.7", "zarr-3.1.6__zipstore-v3.zip")]
    # the best of error and mismatch is mismatch, and the control passes: a zip-specific failure
    assert cell.verdict == "mismatch" and cell.control_verdict == "pass" and cell.zip_specific
    assert model.cells[("gdal", "zarr-3.1.6__zipstore-v3.zip")].verdict == "skipped"
    as_json = cell.to_json()
    for key in ("reader", "library", "library_version", "zarr_version", "fixture", "verdict", "reason",
                "control_verdict"):
        assert key in as_json


def test_html_is_self_contained_and_escaped(results_dir):
    reports = results_dir.parent
    index, summary = build_report(reports)[:2]
    page = index.read_text()
    # plotly.js is embedded once and never fetched: the page works offline.
    assert len(re.findall(r"<script type=\"text/javascript\">/\*\*", page)) == 1
    assert not re.search(r"<script[^>]+src=", page)
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(" in page
    assert "needs docker" in page
    for verdict in ("pass", "mismatch", "partial", "error", "n/a", "crash", "timeout", "env-failed"):
        assert f">{verdict}</span>" in page
    assert "| zarr 2.18.7" in summary.read_text()


def test_bench_conclusion_from_numbers():
    def rec(store, op, median, nbytes=4 * 2**20, spread=0.0):
        samples = [median * (1 + spread * (i % 3 - 1)) for i in range(7)]
        return BenchRow("c", bench_record({"store": store, "op": op, "compressor": "default", "nbytes": nbytes,
                                           "shape": [nbytes // 4], "chunks": [2**18], "page_cache": "warm",
                                           "samples_s": samples, "limit_samples_s": [0.002] * 7}))
    records = [rec("zip", "write", 0.04), rec("zarr-memory", "write", 0.01), rec("directory", "write", 0.02),
               rec("zip", "write", 0.005, nbytes=2**20, spread=0.2)]
    lines = conclusion(records)
    assert lines[0].startswith("c: at 4 MiB the fastest store to write is zarr-memory")
    assert "2.0× faster than the next (directory)" in lines[0] and "4.0× faster than the slowest (zip)" in lines[0]
    assert "3 of 4 write and read medians are known to within their target" in lines[1]
    assert "not the disk" in lines[-1]
    # zip: 1 MiB in 5 ms (210 MB/s), 4 MiB in 40 ms (105 MB/s): its best is at 1 MiB.
    (sweep,) = scaling(records)
    assert sweep.sentence().startswith("c zip/default write: at its best 210 MB/s; within 80% of that from 1 MiB on")


def test_two_runs_make_a_history_and_badges(results_dir):
    reports = results_dir.parent
    build_report(reports)
    # A second run: zarr 2.18.7 now reads the v3 store (a fix), started later.
    later = load_results(results_dir).results
    for res in later:
        res.started = "2026-11-30T10:00:00+00:00"
        for rec in res.of_kind("read"):
            if rec.reader == "zarr-2.18.7" and rec.variant == "zip":
                rec.verdict = type(rec.verdict)("pass")
        write_result(results_dir / f"{res.id}.json", res)
    written = build_report(reports)
    runs = sorted(p.name for p in (reports / "runs").iterdir())
    assert len(runs) == 2 and runs[0].startswith("2026-11-24T10-00-00") and runs[1].startswith("2026-11-30T10-00")
    assert reports / "history.html" in written and (reports / "plotly.min.js").stat().st_size > 1_000_000
    page = (reports / "history.html").read_text()
    # The changed pair labels a row of the chart (in JSON, where "·" may be written as \u00b7).
    assert 'src="plotly.min.js"' in page
    assert any(f"zarr-2.18.7 {dot} zarr-3.1.6__zipstore-v3.zip" in page for dot in ("·", "\\u00b7"))
    assert "<script>alert" not in page
    badge = json.loads((reports / "badges" / "zarr-2.18.7.json").read_text())
    assert badge == {"schemaVersion": 1, "label": "zarrmatrix zarr-2.18.7", "message": "reads 1/1",
                     "color": "brightgreen"}
    # The same run reported again is not kept twice.
    build_report(reports)
    assert len(list((reports / "runs").iterdir())) == 2


def test_the_overview_pairs_writer_and_reader_implementations(results_dir):
    model = build_model(load_results(results_dir).results)
    squares = {(sq.writer, sq.reader): sq for sq in model.overview()}
    assert list(squares) == [("zarr-python", "zarr-python"), ("zarr-python", "GDAL")]
    assert squares[("zarr-python", "GDAL")].best.verdict.value == "skipped"
    square = squares[("zarr-python", "zarr-python")]
    best = square.best
    assert best.read == best.of and best.verdict.value == "pass"
    pairs = {(p.writer.id, p.reader.id): (p.read, p.of, p.verdict.value) for p in square.pairs}
    assert pairs[("zarr-3.1.6", "zarr-2.18.7")] == (0, 1, "mismatch")
    assert pairs[("zarr-2.18.7", "zarr-3.1.6")] == (1, 1, "pass")


def test_a_large_matrix_is_a_site(results_dir, monkeypatch):
    import zarrmatrix.report as report

    monkeypatch.setattr(report, "SITE_SQUARES", 1)
    reports = results_dir.parent
    # An attempt whose error would end a <script> early if it were not escaped.
    later = load_results(results_dir).results
    for res in later:
        for rec in res.of_kind("read"):
            rec.error_message = "</script><script>alert(1)</script>"
        write_result(results_dir / f"{res.id}.json", res)
    written = build_report(reports)
    index = (reports / "index.html").read_text()
    assert written[0] == reports / "index.html"
    assert '<script src="plotly.min.js">' in index and 'href="libraries/zarr.html"' in index
    assert "Implementations: who reads whose Zarr?" in index and 'id="libraries"' in index
    page = (reports / "libraries" / "zarr.html").read_text()
    assert '<script src="../plotly.min.js">' in page and 'data-reader="zarr-2.18.7"' in page
    assert "</script><script>alert(1)" not in page and "<\\/script><script>alert(1)<\\/script>" in page
    assert (reports / "libraries" / "gdal.html").is_file()
    assert len(index) < len(page) + 100_000


def test_a_version_from_a_rule_says_so_in_the_report(results_dir):
    res = load_results(results_dir).results[0]
    res.cell["versions_rule"] = {"registry": "pypi", "package": "zarr", "python": "3.11", "rule": {"latest": 2},
                                 "versions": ["3.0.10", "3.1.6"], "source": "lock",
                                 "resolved_at": "2026-11-30T09:59:47Z"}
    write_result(results_dir / f"{res.id}.json", res)
    build_report(results_dir.parent)
    page = (results_dir.parent / "index.html").read_text()
    assert "version from the rule {latest: 2}: 3.0.10, 3.1.6, pypi via the lock, 2026-11-30T09:59:47Z" in page


def test_each_release_against_the_one_before_it(tmp_path):
    from zarrmatrix.report.releases import release_changes, releases_markdown

    def gdal(cell_id, library, version, gdal_version, verdicts):
        r = result(cell_id, library, version, [read(cell_id, library, f, v) for f, v in verdicts.items()])
        key = "rasterio_gdal" if library == "rasterio" else "gdal"
        r.environment["capabilities"] = {key: {"version": gdal_version}}
        return r

    results = [
        result("zarr-3.3.0", "zarr", "3.3.0", [read("zarr-3.3.0", "zarr", "a.zip", "pass"),
                                                read("zarr-3.3.0", "zarr", "b.zip", "error"),
                                                read("zarr-3.3.0", "zarr", "c.zip", "pass")]),
        result("zarr-3.4.2", "zarr", "3.4.2", [read("zarr-3.4.2", "zarr", "a.zip", "pass"),
                                                read("zarr-3.4.2", "zarr", "b.zip", "pass"),
                                                read("zarr-3.4.2", "zarr", "c.zip", "error")]),
        result("zarr-3.10.0", "zarr", "3.10.0", [read("zarr-3.10.0", "zarr", "a.zip", "pass")]),
        gdal("rasterio-1.5.2", "rasterio", "1.5.2", "3.12.2", {"a.zip": "pass", "b.zip": "pass"}),
        gdal("gdal-3.10-trixie", "gdal", None, "3.10.3", {"a.zip": "error", "b.zip": "pass"}),
    ]
    changes = release_changes(build_model(results))
    assert [(c.implementation, c.version, c.previous_version, c.gained, c.lost) for c in changes] == [
        ("zarr-python", "3.4.2", "3.3.0", ["b.zip"], ["c.zip"]),
        ("zarr-python", "3.10.0", "3.4.2", [], []),  # versions sort as versions, not as text
        ("GDAL", "3.12.2", "3.10.3", ["a.zip"], [])]
    text = releases_markdown(changes)
    assert "zarr-python 3.4.2 (zarr-3.4.2) after 3.3.0: reads 1 fixtures 3.3.0 did not (b.zip); rejects 1 that " \
           "3.3.0 read (c.zip)" in text


def test_each_reader_names_its_slowest_reads(results_dir):
    from zarrmatrix.report.html import render_html

    slow = result("zarr-9.0", "zarr", "9.0", [read("zarr-9.0", "zarr", "big.zip", "pass", seconds=214.5),
                                              read("zarr-9.0", "zarr", "small.zip", "pass", seconds=0.2)])
    page = render_html(build_model([slow]))
    assert "slowest reads" in page and "214.5 s: big.zip (zip, m)" in page
    assert page.index("214.5 s: big.zip") < page.index("0.2 s: small.zip")


def feature_fixture(name, writer, feature, fmt=3, error=None):
    manifest = None if error else {"zarr_format": fmt, "variant": "zipped", "synthetic": False, "feature": feature,
                                   "arrays": [{"path": "data", "shape": [2], "dtype": "bool", "sha256": "x"}]}
    return {"kind": "fixture", "fixture": name, "writer": writer, "fixture_kind": f"feature-{feature}",
            "feature": feature, "manifest": manifest, "error": error}


@pytest.fixture
def features_dir(tmp_path):
    """zarr 3.4.2 and TensorStore write the bool feature, TensorStore cannot write strings; zarr reads both bool
    fixtures, TensorStore reads its own only, GDAL 3.12 (rasterio) neither; zarr 3.0 fails one."""
    folder = tmp_path / "results"
    z, t = "zarr-3.4.2__feature-bool.zip", "tensorstore-0.1.86__feature-bool.zip"
    write_result(folder / "zarr-3.4.2.json", result("zarr-3.4.2", "zarr", "3.4.2", [
        feature_fixture(z, "zarr-3.4.2", "bool"), fixture("zarr-3.4.2__zipstore-v3.zip", "zarr-3.4.2", 3),
        read("zarr-3.4.2", "zarr", z, "pass"), read("zarr-3.4.2", "zarr", t, "pass")], roles=("write", "read")))
    write_result(folder / "zarr-3.0.10.json", result("zarr-3.0.10", "zarr", "3.0.10", [
        read("zarr-3.0.10", "zarr", z, "pass"), read("zarr-3.0.10", "zarr", t, "error")]))
    write_result(folder / "tensorstore-0.1.86.json", result("tensorstore-0.1.86", "tensorstore", "0.1.86", [
        feature_fixture(t, "tensorstore-0.1.86", "bool"),
        feature_fixture("tensorstore-0.1.86__feature-strings.zip", "tensorstore-0.1.86", "strings",
                        error={"type": "ValueError", "message": "string data type is not one of the supported"}),
        read("tensorstore-0.1.86", "tensorstore", z, "error"), read("tensorstore-0.1.86", "tensorstore", t, "pass")],
        roles=("write", "read")))
    rio = result("rasterio-1.5.2", "rasterio", "1.5.2", [
        read("rasterio-1.5.2", "rasterio", "zarr-3.4.2__zipstore-v3.zip", "pass"),
        read("rasterio-1.5.2", "rasterio", z, "mismatch", reason="read as uint8, written as bool"),
        read("rasterio-1.5.2", "rasterio", t, "mismatch")])
    rio.environment["capabilities"] = {"rasterio_gdal": {"version": "3.12.2"}}
    write_result(folder / "rasterio-1.5.2.json", rio)
    return folder


def test_the_features_view_scores_interop_and_links_triage(features_dir):
    from zarrmatrix.report.features import build_features
    from zarrmatrix.triage import Known, Triage

    merged = load_results(features_dir)
    model = build_model(merged.results)
    assert sorted(f.feature for f in model.feature_fixtures) == ["bool", "bool", "strings"]
    # Feature fixtures make the Features view, not the matrix.
    assert [f.name for f in model.fixtures] == ["zarr-3.4.2__zipstore-v3.zip"]
    triage = Triage((Known("GDAL", "https://github.com/OSGeo/gdal/issues/1", "no bool type", feature="bool"),))
    view = build_features(model, triage)
    bool_row = next(r for r in view.rows if r.feature.id == "bool")
    # A reader's failure on a writer whose plain fixtures it does not read either is left out of its square:
    # TensorStore on zarr's, zarr 3.0 on TensorStore's (no plain fixture of TensorStore's was read at all).
    assert {i: s.text for i, s in bool_row.squares.items()} == {
        "GDAL": "no version", "TensorStore": "every version", "zarr-python": "every version (3.0.10 to 3.4.2)"}
    assert {i: s.left_out for i, s in bool_row.squares.items()} == {"GDAL": 1, "TensorStore": 1, "zarr-python": 1}
    # GDAL reads zarr's plain v3 fixture, so its failure on zarr's bool fixture is the feature's: the link holds.
    assert bool_row.squares["GDAL"].known.label == "OSGeo/gdal#1"
    # Core readers: GDAL 3.12.2, TensorStore 0.1.86, zarr 3.4.2; 2 fixtures x 3 readers, 3 pass.
    assert (bool_row.passed, bool_row.pairs) == (3, 6)
    assert view.pair_scores[("zarr-python", "TensorStore")] == (0, 1)
    assert view.pair_scores[("TensorStore", "TensorStore")] == (1, 1)
    # Only on TensorStore's fixture do both other core readers pass.
    assert view.specific == {"GDAL": [("bool", "tensorstore-0.1.86__feature-bool.zip")]}
    assert view.cannot_write["strings"][0][1].startswith("string data type")
    build_report(features_dir.parent, triage=triage)
    page = (features_dir.parent / "index.html").read_text()
    assert 'id="features"' in page and "known: OSGeo/gdal#1" in page and 'id="feature-bool"' in page
    assert "cannot write it: string data type" in page


def test_check_names_who_fails_a_feature_for_its_own_sake(features_dir):
    from zarrmatrix.check_features import failures, feature_report, known_for
    from zarrmatrix.triage import Known, Triage
    from zarrmatrix.zipfacts import ZipFacts

    model = build_model(load_results(features_dir).results)
    triage = Triage((Known("GDAL", "https://github.com/OSGeo/gdal/issues/1", "no bool type", feature="bool"),))
    failing, elsewhere = failures(model, "bool", triage)
    # rasterio reads zarr's plain v3 fixture, so its failures on bool are bool's; TensorStore and zarr 3.0 fail
    # zarr's bool fixture with no plain fixture of TensorStore's to tell, so they are counted apart.
    assert [(label, k, n, known.label if known else None) for label, k, n, known in failing] == [
        ("rasterio 1.5.2", 1, 2, "OSGeo/gdal#1")]
    assert elsewhere == 2
    facts = ZipFacts(path="/tmp/mine.zip", bytes=1, is_zip=True, zarr_format=3,
                     arrays=[{"path": "a", "shape": [2], "dtype": "bool", "features": ["bool"]}])
    lines = feature_report(facts, model, triage)
    assert lines[0] == "features of mine.zip: bool" and "rasterio 1.5.2 fails 1 of 2 (known: OSGeo/gdal#1)" in lines[1]
    user = build_model(load_results(features_dir).results)
    user.cells[("rasterio-1.5.2", "mine.zip")] = user.cells[("rasterio-1.5.2", "zarr-3.4.2__feature-bool.zip")]
    notes = known_for(user, {"mine.zip": facts}, triage, model)
    assert notes == {("rasterio-1.5.2", "mine.zip"): "known: OSGeo/gdal#1"}
