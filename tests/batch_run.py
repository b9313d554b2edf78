"""A small finished `cnnvis.batch` run of the planted-patch model, for the results-view tests."""

import numpy as np

COUNT, LAYER = 40, "4"


def make_batch_run(folder, out_name="results"):
    """``folder/out_name``: 40 planted-patch images, GradCAM with deletion AUCs, in two chunks."""
    from planted import make_images, trained_model

    import cnnvis

    x, y, _ = make_images(COUNT, np.random.default_rng(3))
    np.savez(folder / "images.npz", x=x, y=y)
    # Two chunks, so the gallery reads maps from more than one .npz.
    cnnvis.batch(folder / "images.npz", trained_model(), metrics=["deletion"], out=folder / out_name,
                 chunk_size=25, layer=LAYER, progress=False)
    return folder / out_name


def fake_batch_run(out, count=6):
    """A results folder written straight through the batch store (no model): for fast route tests."""
    from cnnvis.batching.store import ResultStore

    store = ResultStore(out, ["deletion"])
    rng = np.random.default_rng(0)
    rows = [{"key": str(i), "index": i, "method": "gradcam", "status": "ok", "target": i % 2, "score": 1.0,
             "deletion": float(rng.random()), "map_row": i} for i in range(count)]
    store.write(0, rows, {"gradcam": rng.random((count, 8, 8)).astype(np.float32)})
    store.gather()
    return out
