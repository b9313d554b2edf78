"""Small helpers shared by the tests."""

import numpy as np


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.allclose(a, b, atol=1e-6) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def shared_fixture_dir(kind: str):
    """``../shared/fixtures/<kind>`` (recorded real data), or ``$CNNVIS_FIXTURES/<kind>``; None if absent."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    candidates = [os.environ.get("CNNVIS_FIXTURES", ""), root / "shared" / "fixtures", root.parent / "shared" / "fixtures"]
    for base in candidates:
        if base and (Path(base) / kind).is_dir():
            return Path(base) / kind
    return None
