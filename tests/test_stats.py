import pytest

from zarrmatrix.bench import bench_record
from zarrmatrix.stats import median_ci, ratio, spread, throughput_mb_s


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
    assert rec.limit_median_s == pytest.approx(0.1) and rec.limit_min_s == pytest.approx(0.05)
    # The limit is a floor: the ratio is to its best repeat.
    assert rec.ratio_to_limit == pytest.approx(4.0) and rec.below_limit is None
    assert rec.mb_s == pytest.approx(50.0)
    assert rec.verified is True
    assert rec.samples_s == raw["samples_s"]
    failed = bench_record(dict(raw, verify_failures=[{"repeat": 1}]))
    assert failed.verified is False



def test_median_ci_from_order_statistics():
    # n = 20: ranks 10 - 4.38 and 10 + 4.38 + 1, rounded: the 6th and the 15th of the sorted samples.
    ci = median_ci(list(range(1, 21)))
    assert (ci.median, ci.low, ci.high) == (10.5, 6, 15)
    # Few samples give the whole range: a median of 7 repeats is not known to ±5% unless they agree.
    wide = median_ci([1.0, 1.2, 0.9, 1.1, 1.0, 1.3, 0.8])
    assert (wide.low, wide.high) == (0.8, 1.3) and wide.half_width == pytest.approx(0.25)
    assert median_ci([2.0] * 9).half_width == 0


def test_a_store_faster_than_the_floor_gets_a_reason_not_a_ratio():
    raw = {"store": "zarr-memory", "compressor": "none", "op": "read", "nbytes": 10_000_000,
           "samples_s": [0.010, 0.011, 0.010, 0.012, 0.010, 0.011, 0.010],
           "limit_samples_s": [0.030, 0.031, 0.030, 0.032, 0.030, 0.031, 0.030], "stop": "converged"}
    rec = bench_record(raw)
    assert rec.ratio_to_limit is None and "did less work than moving the bytes" in rec.below_limit
    # Within the limit's own noise it is a ratio, however close to 1.
    close = bench_record(dict(raw, samples_s=[0.0299] * 7))
    assert close.below_limit is None and close.ratio_to_limit == pytest.approx(0.0299 / 0.030)
    assert close.converged is True
    # Converged is the interval's width against the target, per operation, whatever stopped the store.
    spread_out = dict(raw, samples_s=[0.010, 0.013, 0.010, 0.016, 0.010, 0.011, 0.019], stop="time budget")
    assert bench_record(spread_out).converged is False
    assert bench_record(dict(raw, samples_s=[0.0299] * 7, stop="max repeats")).converged is True


def test_the_bench_probes_stop_on_the_interval_the_host_reports():
    """The probes (which cannot import zarrmatrix) keep their own copy of the rule they stop on, in
    probes/_measure.py: the two agree."""
    import random
    import sys

    from .conftest import PROBES

    sys.path.insert(0, str(PROBES))
    try:
        import _measure
    finally:
        sys.path.remove(str(PROBES))
    namespace = {"median_ci": _measure.median_ci}
    rng = random.Random(7)
    for n in (1, 2, 3, 5, 7, 10, 31, 50):
        samples = [rng.lognormvariate(0, 0.3) for _ in range(n)]
        host = median_ci(samples)
        assert namespace["median_ci"](samples) == pytest.approx((host.median, host.low, host.high)), n
