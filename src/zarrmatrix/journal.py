"""A cell's journal: every finished read attempt, appended as it completes, so that
a run cut short (Ctrl-C, kill -9, a crash of the host) resumes where it stopped.

`results/<cell>.journal.jsonl` starts with a header naming what the attempts depend
on: the environment (backend and pins), the fixtures (their checksums) and the
methods. A journal whose header differs is stale and starts over; one that matches
gives back its attempts, which the run does not make again. A complete result
replaces the journal.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from .records import ReadRecord
from .results import RESULT_MAX_BYTES, write_text
from .safefs import UnsafeInput, read_text

JOURNAL_MAX_BYTES = RESULT_MAX_BYTES

JOURNAL_SUFFIX = ".journal.jsonl"
FORMAT = 1


class Journal:
    def __init__(self, path: Path, header: dict[str, Any]):
        self.path = path
        self.header = dict(header, journal=FORMAT)
        self._lock = threading.Lock()

    def resume(self) -> list[ReadRecord]:
        """The attempts a matching journal holds (none for a stale, torn or missing one); the journal
        is then open for appending, its header written where it was not there."""
        done = self._read() if self.path.exists() else None
        if done is None:
            write_text(self.path, json.dumps(self.header, sort_keys=True) + "\n")
            return []
        return done

    def _read(self) -> list[ReadRecord] | None:
        try:
            lines = read_text(self.path, limit=JOURNAL_MAX_BYTES).splitlines()
            if not lines or json.loads(lines[0]) != self.header:
                return None
        except (OSError, ValueError, RecursionError, UnsafeInput):  # a FIFO or a device is no journal either
            return None
        done = []
        for line in lines[1:]:
            try:
                done.append(ReadRecord.from_json(json.loads(line)))
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                # A line cut short by a kill (or not a record at all): that attempt runs again.
                continue
        # Written anew without a torn line, so that what is appended next starts on a line of its own.
        kept = [json.dumps(self.header, sort_keys=True)] + [json.dumps(r.to_json(), sort_keys=True) for r in done]
        write_text(self.path, "\n".join(kept) + "\n")
        return done

    def append(self, record: ReadRecord) -> None:
        line = json.dumps(record.to_json(), sort_keys=True) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
