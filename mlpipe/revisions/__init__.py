"""A pipeline across commits: params and metrics at a revision, diffs, reproducing a commit."""
