import pytest

from zarrmatrix.bench import bench_record
from zarrmatrix.stats import ratio, spread, throughput_mb_s


def test_spread_on_known_samples():
    s = spread([5, 1, 4, 2, 3])
    assert (s.n, s.min, s.q1, s.median, s.q3, s.iqr) == (5, 1, 2, 3, 4, 2)
    s = spread([1, 2, 3, 4])
    # numpy.percentile([1, 2, 3, 4], [25, 50, 75]) == [1.75, 2.5, 3.25]
    assert (s.q1, s.median, s.q3) == pytest.approx((1.75, 2.5, 3.25))
    assert spread([0.7]).iqr == 0
    with pytest.raises(ValueError):
        spread([])


def test_throughput_and_ratio():
    assert throughput_mb_s(2_000_000, 0.5) == pytest.approx(4.0)
    assert throughput_mb_s(1, 0) is None
    assert ratio(3.0, 1.5) == pytest.approx(2.0)
    assert ratio(3.0, None) is None


def test_bench_record_adds_statistics():
    raw = {"kind": "bench", "store": "zip", "compressor": "none", "op": "read", "nbytes": 10_000_000,
           "samples_s": [0.2, 0.1, 0.3, 0.2, 0.2], "limit_samples_s": [0.05, 0.1, 0.1, 0.1, 0.15],
           "verify_failures": []}
    rec = bench_record(raw)
    assert rec.median_s == pytest.approx(0.2)
    assert rec.iqr_s == pytest.approx(0.0)
    assert rec.limit_median_s == pytest.approx(0.1)
    assert rec.ratio_to_limit == pytest.approx(2.0)
    assert rec.mb_s == pytest.approx(50.0)
    assert rec.verified is True
    assert rec.samples_s == raw["samples_s"]
    failed = bench_record(dict(raw, verify_failures=[{"repeat": 1}]))
    assert failed.verified is False
