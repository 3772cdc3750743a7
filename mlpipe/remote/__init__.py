"""The shared remote cache: named remotes, fsspec filesystems, and push/pull of what a lock
file needs.

`config` keeps named remotes in `.mlpipe/remotes.yaml` and chooses the remote a command uses;
`fs` opens an fsspec filesystem with clear errors; `store` reads and writes the remote's
objects and run-cache entries; `sync` moves what a lock file needs in either direction;
`link` ties them to `mlpipe run --pull/--push`; `staging` (the coordinator) and `scratch` (a
worker) carry a stage's files to and from dask workers that cannot see the project
(`mlpipe run --worker-files remote`). fsspec is imported only in `fs`, and only when a remote
is opened.
"""
