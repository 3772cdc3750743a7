"""ML helpers shared by the kinds and the monitor: tables, expectations, drift, estimators."""
