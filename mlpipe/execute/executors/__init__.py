"""Where a stage's work runs: this machine's processes, or a dask cluster."""
