"""Writing the studies' CSV files: one header row, then rows, the folder created if needed."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path


def write_rows(path: str | Path, columns: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """Write ``columns`` then every row of ``rows`` to ``path`` as CSV (``None`` cells empty); returns the path.

    Example:
        >>> import tempfile
        >>> path = write_rows(Path(tempfile.mkdtemp()) / "a" / "t.csv", ["x", "y"], [[1, None], [2, 0.5]])
        >>> path.read_text().splitlines()
        ['x,y', '1,', '2,0.5']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if cell is None else cell for cell in row])
    return path
