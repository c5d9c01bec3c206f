"""A verdict is confirmed before it stands, where one run alone could mislead.

- A timeout: beside other attempts on a loaded machine a slow read can pass its limit. The attempt runs once
  more, alone, at twice the limit; `timeout` only if it times out again, else what it found, reported slow.
- A verdict that moved since the cell's last result (or whose last result was already found flaky): some
  readers race (fsspec's ZipFileSystem under zarr 3's concurrent reads passes an attempt one time in eight
  here and reads "corrupt zip member" the other seven), so one attempt is a sample, not a verdict. The attempt
  runs MOVED_REPEATS more times; where the outcomes differ, the verdict is the most frequent (the worse of a
  tie), and the record counts every outcome and says it is flaky.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Callable, Sequence

from .attempt import IMPORT
from .records import ReadRecord, Record, Verdict

MOVED_REPEATS = 4
Key = tuple[str, str, str, str]


def key_of(cell_id: str, fixture: str, variant: str, method: str | None) -> Key:
    return cell_id, fixture, variant, method or IMPORT


def last_verdicts(records: Sequence[Record]) -> dict[Key, ReadRecord]:
    """A previous result's read records by (cell, fixture, variant, method)."""
    return {(r.reader, r.fixture, r.variant, r.method): r for r in records if isinstance(r, ReadRecord)}


def moved(record: ReadRecord, last: ReadRecord | None) -> bool:
    return last is not None and (last.verdict is not record.verdict or "outcomes" in last.extra)


def settle(outcomes: Sequence[ReadRecord]) -> ReadRecord:
    """One record for the repeats of an attempt: the first, where they agree; else the first of the most
    frequent verdict (the worse of a tie), counting every outcome."""
    counts = Counter(r.verdict for r in outcomes)
    if len(counts) == 1:
        return outcomes[0]
    verdict = max(counts, key=lambda v: (counts[v], v.rank))
    chosen = next(r for r in outcomes if r.verdict is verdict)
    tally = ", ".join(f"{v.value} {n}" for v, n in counts.most_common())
    return replace(chosen, reason=f"flaky: {counts[verdict]} of {len(outcomes)} attempts gave this ({tally}); "
                                  f"{chosen.reason}",
                   extra={**chosen.extra, "outcomes": {v.value: n for v, n in counts.items()}})


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
