"""``cnnvis.sanity_check``: do the maps change when the learned weights are destroyed?

A map that survives re-initialising the network from the logits down (Adebayo et al. 2018,
"Sanity checks for saliency maps") reflects the input (edges, textures), not the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import CnnvisError
from ..tables import Table
from .randomize import cascade, count_stages
from .similarity import per_image, spearman, ssim


@dataclass
class SanityReport:
    """Per-stage similarity between the original maps and the maps of a randomised copy.

    ``spearman`` and ``ssim``: ``(stages + 1, N)``, row 0 the original model against itself, row k
    with the top k layers re-initialised. ``maps``: ``(stages + 1, N, H, W)`` in the same order.
    """

    method: str
    layer: str
    layers: list[str]  # the layer re-initialised at each stage, top first
    spearman: np.ndarray
    ssim: np.ndarray
    targets: list[int] | None
    threshold: float = 0.5
    maps: np.ndarray | None = field(default=None, repr=False)

    @property
    def final_spearman(self) -> float:
        """Mean Spearman correlation between the original maps and the fully randomised model's."""
        return float(self.spearman[-1].mean())

    @property
    def passed(self) -> bool:
        return self.final_spearman < self.threshold

    @property
    def verdict(self) -> str:
        if self.passed:
            return "These maps depend on the learned weights."
        return "These maps do not depend on the learned weights: they survive randomising the model."

    @property
    def stages(self) -> Table:
        """Plot-ready rows: stage, layer randomised down to, mean/std Spearman and SSIM."""
        rows = Table()
        for k, name in enumerate(["(original)", *self.layers]):
            rows.append({
                "stage": k, "layer": name,
                "spearman": float(self.spearman[k].mean()), "spearman_std": float(self.spearman[k].std()),
                "ssim": float(self.ssim[k].mean()), "ssim_std": float(self.ssim[k].std()),
            })
        return rows

    def to_dict(self) -> dict:
        return {"method": self.method, "layer": self.layer, "threshold": self.threshold,
                "passed": self.passed, "verdict": self.verdict, "final_spearman": self.final_spearman,
                "stages": list(self.stages)}

    def __repr__(self) -> str:
        return (f"SanityReport(method={self.method!r}, passed={self.passed}, "
                f"final_spearman={self.final_spearman:.3f}, stages={len(self.layers)})")


def sanity_check(
    model: Any,
    inputs: Any,
    method: str | None = None,
    target: Any = None,
    layer: str | None = None,
    *,
    threshold: float = 0.5,
    seed: int = 0,
    keep_maps: bool = True,
    progress: bool | Callable[[int, int], None] = True,
    **explain_options: Any,
) -> SanityReport:
    """Model-randomisation check of ``method`` on ``inputs`` for a PyTorch or Keras ``model``.

    Layers with parameters are re-initialised one by one from the output down, on a copy; after
    each, the maps for the same target classes are compared with the original ones. ``passed``
    when the mean Spearman correlation with the fully randomised model is below ``threshold``.
    ``progress``: a tqdm bar (True), none (False), or a callable receiving ``(done, total)`` stages.
    """
    from ..adapters.base import resolve_adapter
    from ..api import explain

    adapter = resolve_adapter(model)
    original = explain(adapter.model, inputs, method, target, layer, progress=False, **explain_options)
    # The randomised copies explain the original model's classes, not whatever they now predict.
    fixed_target = original.targets if original.targets is not None else target
    layer = original.layer
    # refuses other frameworks up front; a .pt2 model is copied through its exported program
    stages = cascade(adapter.framework, adapter.model, seed, getattr(adapter, "exported", None))
    maps, names = [original.maps], []
    total = count_stages(adapter.framework, adapter.model)
    bar = tqdm(total=total, desc=f"sanity {original.method}", unit="stage",
               disable=progress is not True, leave=False)
    for done, (name, randomised) in enumerate(stages, 1):
        exp = explain(randomised, inputs, original.method, fixed_target, layer, progress=False, **explain_options)
        maps.append(exp.maps)
        names.append(name)
        bar.update(1)
        if callable(progress):
            progress(done, total)
    bar.close()
    if not names:
        raise CnnvisError("The model has no layers with parameters to randomise.")
    rho = np.stack([per_image(spearman, original.maps, m) for m in maps])
    structural = np.stack([per_image(ssim, original.maps, m) for m in maps])
    return SanityReport(method=original.method, layer=layer, layers=names, spearman=rho, ssim=structural,
                        targets=original.targets, threshold=threshold,
                        maps=np.stack(maps) if keep_maps else None)

