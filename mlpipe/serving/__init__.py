"""Serving registered models: the HTTP app, its input checks, deployment records and bundles.

`schema`, `predict` and `app` import nothing from the rest of mlpipe (only relative imports
among themselves), so a bundle can ship them as a standalone package.
"""
