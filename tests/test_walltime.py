"""Where a run's time went: phase spans per cell, merged into wall clock (side-by-side cells count once) and
summed time, and the band benchmark's growth fit."""

import pytest

from zarrmatrix.bands import Curve, band_records, curves
from zarrmatrix.records import BandsRecord, CellResult, CellStatus, PhaseSpan
from zarrmatrix.report.bands import bands_html
from zarrmatrix.walltime import split_lines, union_length, wall_time


def result(cell_id: str, records=(), **spans: tuple[float, float]) -> CellResult:
    return CellResult(schema_version=2, cell={"id": cell_id, "backend": "venv", "library": "zarr"},
                      status=CellStatus.OK, status_reason=None, environment={"python": "3.11", "freeze": []},
                      host={"hostname": "h", "platform": "p", "cpus": 2}, started="", duration_s=1.0,
                      records=list(records),
                      timings={phase: PhaseSpan(start=a, seconds=b - a) for phase, (a, b) in spans.items()})


def test_union_counts_overlaps_once():
    assert union_length([]) == 0
    assert union_length([(0, 10), (5, 15), (20, 25)]) == 20
    assert union_length([(0, 10), (2, 3)]) == 10


def test_side_by_side_reads_count_once_in_the_wall_clock_and_in_full_in_the_sum():
    results = [result("a", environment=(100, 102), read=(102, 160)),
               result("b", environment=(100, 101), read=(101, 131)),
               result("w", write=(90, 100)),
               result("z", bench=(160, 170)),
               result("old", read=(10, 50))]
    split = wall_time(results, since=90, until=180)
    phases = {p.name: p for p in split.phases}
    assert split.wall_s == 90
    assert phases["reads"].wall_s == pytest.approx(59) and phases["reads"].summed_s == pytest.approx(88)
    assert phases["reads"].cells == 2 and phases["fixtures"].wall_s == 10 and phases["benchmarks"].wall_s == 10
    assert split.covered_s == pytest.approx(80)
    assert split.slowest == [("a", 58), ("b", 30)]
    text = "\n".join(split_lines(split, report_s=4))
    assert "1 min 30 s wall clock" in text and "1 min 28 s one after another" in text
    assert "report" in text and "6.0 s" in text  # other: 90 - 80 covered - 4 report
    assert "slowest reads: a 58.0 s, b 30.0 s" in text


def test_results_without_spans_have_no_split():
    assert wall_time([result("a")]) is None


def test_the_growth_is_the_log_log_slope():
    quadratic = Curve("c", "classic", "3.10.3", [(n, 1e-8 * n * n) for n in (1000, 2000, 4000, 8000)], None)
    linear = Curve("c", "multidim", "3.10.3", [(n, 1e-5 * n) for n in (1000, 2000, 4000, 8000)], None)
    assert quadratic.exponent == pytest.approx(2.0) and linear.exponent == pytest.approx(1.0)
    assert "grows as N^2.00 (1,000 bands 10.0 ms, 8,000 bands 0.64 s)" in quadratic.sentence()
    # Reads under a millisecond are the call's own cost, not growth.
    assert Curve("c", "classic", "3.9", [(1000, 0.0001), (2000, 0.0002)], None).exponent is None


def test_a_probe_that_made_no_record_for_an_api_says_why(monkeypatch):
    class Result:
        def tail(self):
            return "ModuleNotFoundError: No module named 'osgeo'"

    class Attempt:
        result = Result()
        records = [{"kind": "bands", "api": "classic", "call": "gdal.Open", "bands": 1000, "gdal_version": "3.6.2",
                    "samples_s": [0.1, 0.2, 0.3], "error": None}]

    records = band_records(Attempt(), ["classic", "multidim"])
    assert [r.api for r in records] == ["classic", "multidim"]
    assert records[0].median_s == 0.2 and records[1].median_s is None
    assert "osgeo" in records[1].error["message"]
    lines = curves([result("gdal-3.6", records)])
    assert [c.api for c in lines] == ["classic", "multidim"]
    assert "no read finished (1,000 bands: ModuleNotFoundError" in lines[1].sentence()


def test_the_report_draws_the_curves_and_states_the_growth():
    records = [BandsRecord(api="classic", call="rasterio.open", bands=n, gdal_version="3.12.2",
                           samples_s=[1e-8 * n * n] * 3) for n in (1000, 2000, 4000)]
    page = bands_html([result("rasterio-1.5.2", records)])
    assert 'id="bands"' in page
    assert "GDAL 3.12.2 (rasterio-1.5.2), classic API, rasterio.open: time grows as N^2.00" in page
    assert bands_html([result("zarr-3.4.2")]) == ""
