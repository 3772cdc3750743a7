"""What mlpipe keeps on disk: content hashes, the object store, run-cache, lock file, history."""
