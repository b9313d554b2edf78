"""Tables cnnvis returns: lists of dicts that become a ``pandas.DataFrame`` where pandas exists."""

from __future__ import annotations

from typing import Any

from .errors import CnnvisError


class Table(list):
    """Rows (dicts). Subclasses add what the rows add up to as attributes."""

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame`` (pandas must be installed)."""
        try:
            import pandas as pd
        except ImportError:
            raise CnnvisError("to_pandas() needs pandas: pip install pandas.") from None
        return pd.DataFrame(list(self))
