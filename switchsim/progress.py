"""A one-line progress display on stderr: rewritten in place, rate-limited, only on a terminal.

Kept by hand rather than tqdm or rich (a choice, issue 20): the lines say what the engines know (simulated
milliseconds and the share of results for `run`, runs arriving out of order for `sweep`), not an iteration
count a bar library is built around; these few lines need no dependency and print nothing off a terminal.
What a library would add is handled here: the line is cut to the terminal's width (a wrapped line cannot be
rewritten with a carriage return) and erased when done.
"""

from __future__ import annotations

import shutil
import sys
import time


class StatusLine:
    """One self-overwriting stderr line (at most five updates a second) with the elapsed wall-clock time.

    Nothing is printed when stderr is not a terminal (logs and pipes stay clean).
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self.last = 0.0
        self.width = 0

    def update(self, text: str, force: bool = False) -> None:
        """Show ``text`` (with the elapsed seconds) unless the last update was under 0.2 s ago."""
        now = time.monotonic()
        if self.enabled and (force or now - self.last >= 0.2):
            self.last = now
            line = f"  {text}  [{now - self.started:6.1f} s]"
            columns = shutil.get_terminal_size((120, 24)).columns
            if len(line) >= columns:  # one character short of the edge: a full line wraps on some terminals
                line = line[: max(columns - 2, 1)] + "…"
            self.width = min(max(self.width, len(line)), max(columns - 1, 1))
            print("\r" + line.ljust(self.width), end="", file=sys.stderr, flush=True)

    def counter(self, what: str):
        """A ``progress(done, total)`` callback that shows ``what done/total``."""
        return lambda done, total: self.update(f"{what} {done}/{total}", force=done == total)

    def close(self) -> None:
        """Erase the line."""
        if self.enabled and self.last:
            print("\r" + " " * self.width + "\r", end="", file=sys.stderr, flush=True)
