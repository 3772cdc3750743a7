"""`python -m mlpipe`."""

from mlpipe.cli.app import main

main()
