"""The datetime feature transformer: calendar parts and elapsed days, inside the Pipeline.

Imported only when a model has a datetime column; a saved model that holds it needs mlpipe
importable wherever it is loaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class DateParts(BaseEstimator, TransformerMixin):
    """Timestamps (datetime or ISO 8601 text) -> year, month, day, weekday, hour, and days
    since the earliest training time; unreadable values become NaN (imputed next)."""

    def fit(self, X: Any, y: Any = None) -> DateParts:
        times = self._times(X)
        earliest = times.min()
        self.origin_ = 0 if pd.isna(earliest) else int(pd.Timestamp(earliest).value)
        return self

    def transform(self, X: Any) -> Any:
        times = self._times(X)
        nanos = times.to_numpy(dtype="datetime64[ns]").view("int64")
        parts = [times.dt.year, times.dt.month, times.dt.day, times.dt.day_of_week, times.dt.hour,
                 (nanos - self.origin_) / 86_400e9]
        out = np.column_stack([np.asarray(p, dtype=float) for p in parts])
        out[np.asarray(times.isna())] = np.nan
        return out

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        return np.array(["year", "month", "day", "weekday", "hour", "days"], dtype=object)

    @staticmethod
    def _times(X: Any) -> pd.Series:
        column = X.iloc[:, 0] if hasattr(X, "iloc") else pd.Series(list(X[:, 0]))
        if pd.api.types.is_datetime64_any_dtype(column):
            times = column.dt.tz_convert("UTC") if column.dt.tz is not None else column
            return times.dt.tz_localize(None) if times.dt.tz is not None else times
        parsed = pd.to_datetime(column.astype("string"), errors="coerce", format="ISO8601",
                                utc=True)
        return parsed.dt.tz_localize(None)
