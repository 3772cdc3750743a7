"""Tests of the shared remote cache (a package, so its conftest and module names stay its own)."""
