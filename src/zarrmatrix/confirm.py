"""A verdict is confirmed before it stands, where one run alone could mislead.

- A timeout: beside other attempts on a loaded machine a slow read can pass its limit. The attempt runs once
  more, alone on the machine (alone.py), at twice the limit; `timeout` only if it times out again, else what
  it found, reported slow.
- A verdict that moved since the cell's last result (in the same environment, with the same probes: a verdict
  a new probe moved is news), or an attempt already found flaky: some readers race
  (fsspec's ZipFileSystem under zarr 3's concurrent reads reads one zip as "corrupt zip member" in 7 of 8
  quiet repeats here and passes the eighth), so one attempt is a sample, not a verdict. The attempt runs
  MOVED_REPEATS more times. Where the outcomes differ, the attempt is flaky for good: its record counts every
  outcome seen so far, and its verdict is the worst of them (a reader that fails some of the time cannot be
  counted on to read the file), which later runs, one attempt each, can only confirm. Flakiness is the
  library's: it outlives an edit of the probe, not a change of the environment.
- A race found in one zip is in the store layer a method goes through, not in that zip: every zip attempt of a
  method of the cell found flaky is sampled in every run, alone on the machine after the others, by an attempt
  that reads the zip SUSPECT_READS more times in its own process (each opened anew), so that the zips it has not
  yet been seen to race on are found out by the quiet runs, not first by a loaded one. Both choices are
  measured: beside other attempts these races show far less (3 in 30 attempts of fsspec's on the RFC-9 zip
  three at a time, 14 in 20 one at a time), and a process's later reads race more than its first (Python
  3.12.1's zipfile under zarr 3's threads, on zarrs' sharded zip: 1 in 20 first reads, 11 in 50 later ones),
  at about a quarter of the cost of an attempt each. (That race is Python 3.12's zipfile: docs/findings.md.)
  A zip read STEADY_READS times alike in such samples (its record's `steady_reads`, counted across runs with the
  same probes) is taken to read steadily, and sampled no more.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from .attempt import IMPORT, Again
from .records import VERDICT_OF, CellResult, ReadRecord, Record, Verdict

MOVED_REPEATS = 9
SUSPECT_READS = Again(reads=6, budget_s=0.2)
# A race that shows in 5% of the reads alone is missed by 100 with a chance of 0.6%.
STEADY_READS = 100
Key = tuple[str, str, str, str]


def key_of(cell_id: str, fixture: str, variant: str, method: str | None) -> Key:
    return cell_id, fixture, variant, method or IMPORT


def last_verdicts(records: Sequence[Record]) -> dict[Key, ReadRecord]:
    """A previous result's read records by (cell, fixture, variant, method)."""
    return {(r.reader, r.fixture, r.variant, r.method): r for r in records if isinstance(r, ReadRecord)}


def flaky_ones(records: Sequence[Record]) -> dict[Key, ReadRecord]:
    """The attempts among `records` found flaky, by (cell, fixture, variant, method)."""
    return {key: r for key, r in last_verdicts(records).items() if r.found_flaky}


def suspects(flaky: dict[Key, ReadRecord]) -> set[tuple[str, str]]:
    """(cell, method) pairs with an attempt found flaky: each of their zip attempts is sampled more."""
    return {(cell, method) for (cell, _, _, method) in flaky}


def steady_reads(record: ReadRecord | None) -> int:
    """How many reads alone, all alike, the attempt of `record` has had in samples so far."""
    return int(record.extra.get("steady_reads", 0)) if record is not None else 0


def repeats(record: ReadRecord, last: ReadRecord | None, flaky: ReadRecord | None = None) -> int | None:
    """How many more times to run an attempt at once before its verdict stands, or None where it stands as it is.

    Found flaky before (`flaky`): none (0), its outcome joins the count and the worst seen stands. Moved since
    the last result: MOVED_REPEATS."""
    if flaky is not None:
        return 0
    if last is not None and last.verdict is not record.verdict:
        return MOVED_REPEATS
    return None


@dataclass
class Confirmation:
    """What the cells' last results say about a run's attempts, and the attempts left to confirm alone after
    the others: timeouts, and zip attempts of a method found flaky elsewhere (`later`, with their first record).

        confirmation.learn(previous, same_probes=...)          # per cell, before the reads
        record = confirmation.first(task, key, record, again)  # None: in `later`
        record = confirmation.alone(first, limit, again, sample)  # for each of `later`, one at a time"""

    last: dict[Key, ReadRecord] = field(default_factory=dict)
    flaky: dict[Key, ReadRecord] = field(default_factory=dict)
    later: list[tuple[Any, ReadRecord]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def learn(self, previous: CellResult, *, same_probes: bool) -> None:
        """Take in a previous result of the same environment; its verdicts only where the probes are the same."""
        if same_probes:
            self.last.update(last_verdicts(previous.records))
        self.flaky.update(flaky_ones(previous.flaky()))

    def first(self, task: Any, key: Key, record: ReadRecord, again: Callable[[], ReadRecord]) -> ReadRecord | None:
        """The record that stands, after the repeats it needs at once; None where it is left for `later`."""
        flaky, last = self.flaky.get(key), self.last.get(key)
        more = repeats(record, last, flaky)
        so_far = steady_reads(last) if more is None else 0
        suspect = key[2] == "zip" and (key[0], key[3]) in suspects(self.flaky) and so_far < STEADY_READS
        if record.verdict is Verdict.TIMEOUT or more is None and suspect:
            with self._lock:
                self.later.append((task, record))
            return None
        if more is None:
            return replace(record, extra={**record.extra, "steady_reads": so_far + 1}) if so_far else record
        return settle([record, *(again() for _ in range(more))], flaky)

    def alone(self, first: ReadRecord, limit: float, again: Callable[[float], ReadRecord],
              sample: Callable[[Again], list[ReadRecord]]) -> ReadRecord:
        """A record left for later, confirmed with the machine to this run: a timeout by `again` at twice the
        limit, a suspect by `sample`, an attempt that reads SUSPECT_READS more times in its own process."""
        if first.verdict is Verdict.TIMEOUT:
            return confirm_timeout(first, limit, again)
        outcomes = [first, *sample(SUSPECT_READS)]
        settled = settle(outcomes)
        if settled.found_flaky:
            return settled
        so_far = steady_reads(self.last.get(key_of(first.reader, first.fixture, first.variant, first.method)))
        return replace(settled, extra={**settled.extra, "steady_reads": so_far + len(outcomes)})


def settle(outcomes: Sequence[ReadRecord], flaky: ReadRecord | None = None) -> ReadRecord:
    """One record for the repeats of an attempt: the first, where they agree and it was never found flaky;
    else the worst verdict seen, counting every outcome of this run and the earlier ones (`flaky`'s)."""
    counts = Counter(r.verdict for r in outcomes)
    if flaky is not None:
        counts.update({VERDICT_OF[v]: n for v, n in flaky.extra["outcomes"].items()})
    if len(counts) == 1:
        return outcomes[0]
    worst = max(counts, key=lambda v: v.rank)
    chosen = next((r for r in outcomes if r.verdict is worst), None)
    if chosen is None:
        # Seen in an earlier run only: that run's record of it says what went wrong.
        chosen = replace(outcomes[0], verdict=worst, reason=flaky.extra.get("flaky_reason", flaky.reason),
                         error_type=flaky.error_type, error_message=flaky.error_message)
    first_reason = chosen.extra.get("flaky_reason", chosen.reason)
    tally = ", ".join(f"{v.value} {n}" for v, n in counts.most_common())
    return replace(chosen, reason=f"flaky: {sum(counts.values())} attempts so far ({tally}); {first_reason}",
                   extra={**chosen.extra, "outcomes": {v.value: n for v, n in counts.items()},
                          "flaky_reason": first_reason})


def confirm_timeout(first: ReadRecord, limit: float, again: Callable[[float], ReadRecord]) -> ReadRecord:
    """`again(timeout)` runs the attempt alone; its record, with both durations and the slowness named."""
    record = again(2 * limit)
    record.extra.update(first_attempt_s=first.seconds, confirmed_alone=True)
    if record.verdict is Verdict.TIMEOUT:
        record.reason = f"killed after the {limit:g} s limit, and again alone after {2 * limit:g} s"
    else:
        record.reason = (f"{record.reason} (slow: past the {limit:g} s limit beside other attempts, "
                         f"{record.seconds:.0f} s alone)")
    return record
