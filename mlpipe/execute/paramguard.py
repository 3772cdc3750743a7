"""`python -m mlpipe.execute.paramguard JOURNAL`: wait for the run to end, then put back the
params file the journal names if the run could not (see paramsio.py).

The run holds this process's stdin open; reading it returns end-of-file when the run closes it
or dies, SIGKILL included. The guard runs in a session of its own, so a signal sent to the
run's process group does not reach it.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    journal = Path(argv[1])
    while sys.stdin.buffer.read(65536):
        pass
    if journal.exists():
        from mlpipe.execute.paramsio import restore_from

        restore_from(journal)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
