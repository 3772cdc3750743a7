"""`mlpipe report`: one self-contained HTML file about a pipeline.

`data` gathers the facts (DAG with each stage's last status, runs per commit, metrics over
commits, validation reports, registry, model cards), `svg` draws the DAG and the charts,
`html` renders the page. `write` does all three and replaces the output file atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlpipe.report.data import ReportData


def write(pipeline_file: Path | str | None, out: Path) -> ReportData:
    """Gather a pipeline's facts and write them as an HTML report.

    Args:
        pipeline_file: The pipeline file (default `./mlpipe.yaml`).
        out: Where the report goes; replaced atomically (a reader never sees half of it).

    Returns:
        The facts the report shows.

    Raises:
        SpecError: The pipeline file is invalid.
        OutputWriteError: `out` cannot be written.
    """
    from mlpipe.errors import OutputWriteError
    from mlpipe.report import data, html
    from mlpipe.state.fsutil import atomic_write_text

    facts = data.gather(pipeline_file)
    page = html.render(facts)
    try:
        atomic_write_text(Path(out), page)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(out, 0o666 & ~mask)  # a report is for sharing: the usual mode, not 0600
    except OSError as exc:
        raise OutputWriteError(Path(out), exc, "-o/--output") from None
    return facts
