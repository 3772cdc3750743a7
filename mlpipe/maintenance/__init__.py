"""Keeping the cache healthy and small: `verify` checks it, `gc` removes what nothing needs."""
