"""Request kinds for pixel attributions and concepts, next to the CAM maps, and what the views need
to know about every method before asking for one. Registered on every
:class:`~cnnvis.services.Dispatcher`, so the widget, the kernel comm and the server answer them alike.

Kinds: ``attribute`` (``cnnvis.attribute``: a map per input, as a binary buffer like explain's) and
``concepts`` (``cnnvis.concepts``, Deep Feature Factorization: each concept's map, the strongest
concept at each pixel and each concept's top classes). ``method_catalog`` is what ``status`` lists:
each CAM and attribution method, whether it needs gradients and how many passes it costs.
``explain_options`` checks the smoothing switches and method options ``explain`` takes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .codec import to_npy
from .dispatch_types import KindGroup, Reply
from .errors import BadRequest

if TYPE_CHECKING:
    from .models import ModelSession

# Passes through the model per image where a method needs more than one forward (and backward).
# "channels": one forward per channel of the layer (C); "layers": one pass per layer it combines.
FORWARDS: dict[str, int | str] = {"scorecam": "channels", "ablationcam": "channels", "finercam": 2,
                                  "refinecam": "layers", "shapleycam": 2}
FORWARD_HINTS = {
    1: "1 forward pass per image",
    2: "2 passes per image",
    "channels": "C forward passes per image (C: the layer's channels)",
    "layers": "1 pass per layer it combines",
}
ATTRIBUTION_PASSES = {"saliency": 1, "smoothgrad": "samples", "integrated_gradients": "steps",
                      "guided_backprop": 1, "guided_gradcam": 2}
MAX_COMPONENTS = 16
MAX_STEPS = 512
# Method options ``explain`` passes on to a method, and what each must be.
KERNELS = ("linear", "poly", "rbf", "sigmoid", "cosine")


def method_catalog() -> dict:
    """Every CAM and attribution method: ``{cam: [...], attribution: [...], aug_smooth_passes}``."""
    from ..attribution import METHODS
    from ..cam.engine import available_methods
    from ..cam.smoothing import FACTORS, FLIPS

    cams = {cls.name: cls for cls in available_methods().values()}
    cam = []
    for name in sorted(cams):
        cls = cams[name]
        forwards = getattr(cls, "forwards", None) or FORWARDS.get(name, 1)
        cam.append({"name": name, "aliases": list(getattr(cls, "aliases", ())),
                    "gradients": bool(cls.uses_gradients), "forwards": forwards,
                    "cost": FORWARD_HINTS.get(forwards, f"{forwards} passes per image")})
    attribution = [{"name": cls.name, "aliases": list(cls.aliases), "gradients": True,
                    "torch_only": bool(cls.torch_only), "forwards": ATTRIBUTION_PASSES.get(cls.name, 1)}
                   for cls in METHODS]
    return {"cam": cam, "attribution": attribution, "aug_smooth_passes": len(FLIPS) * len(FACTORS)}


def explain_options(args: dict) -> dict:
    """``eigen_smooth``, ``aug_smooth`` and ``options`` (a method's own) of an explain request, checked."""
    out: dict[str, Any] = {}
    for key in ("eigen_smooth", "aug_smooth"):
        if args.get(key) is not None:
            if not isinstance(args[key], bool):
                raise BadRequest(f"{key} must be true or false.")
            out[key] = args[key]
    options = args.get("options")
    if options is None:
        return out
    if not isinstance(options, dict):
        raise BadRequest("options must be an object of method options.")
    checks = {"seed": _int, "k": _number, "gamma": _number, "alpha": _number, "kernel": _kernel,
              "base": _name, "layers": _names, "comparison_categories": _positions}
    unknown = sorted(set(options) - set(checks))
    if unknown:
        raise BadRequest(f"Unknown method option {unknown[0]!r}; known: {', '.join(sorted(checks))}.")
    out["options"] = {k: checks[k](v, k) for k, v in options.items() if v is not None}
    return out


class AttributionKinds(KindGroup):
    kinds = ("attribute", "concepts")

    def attribute(self, args: dict, buffers: list[bytes], progress: Any = None, cancel: Any = None,
                  **_: Any) -> Reply:
        """Maps in [0, 1] for display (signed ones by magnitude), the attributions as computed, the images."""
        from ..attribution import attribute

        session = self.dispatcher.session(args)
        inputs = _inputs(session, args, buffers)
        method = _name(args.get("method", "saliency"), "method")
        options = {k: _int(args[k], k, 1, MAX_STEPS) for k in ("steps", "samples") if args.get(k) is not None}
        if args.get("seed") is not None:
            options["seed"] = _int(args["seed"], "seed")
        if args.get("noise") is not None:
            options["noise"] = _number(args["noise"], "noise")
        if args.get("layer") is not None:
            options["layer"] = _name(args["layer"], "layer")
        asked = args.get("target")
        with session._lock:
            target = session.resolve_target(asked, inputs)
            values = attribute(session.adapter, inputs, method=method, target=target, progress=_callable(progress),
                               cancel=cancel, **options)
        images = _images(session, inputs)
        signed = bool((values < 0).any())
        result = {"method": method.lower(), "target": asked, "signed": signed, "shape": list(values.shape),
                  "buffers": ["maps", "raw", "images"]}
        return Reply(result, [to_npy(_display(values)), to_npy(values.astype(np.float32)), to_npy(images)])

    def concepts(self, args: dict, buffers: list[bytes], **_: Any) -> Reply:
        """Each concept's map per input, the strongest concept per pixel and each concept's classes."""
        from ..attribution.concepts import concepts

        session = self.dispatcher.session(args)
        inputs = _inputs(session, args, buffers)
        count = _int(args.get("n_components", 4), "n_components", 1, MAX_COMPONENTS)
        top_k = _int(args.get("top_k", 3), "top_k", 1, 20)
        layer = args.get("layer")
        with session._lock:
            found = concepts(session.adapter, inputs, None if layer is None else _name(layer, "layer"), count,
                             top_k=top_k)
        names = session.class_names or []
        listed = [{"index": k, "top_classes": [
            {"index": int(c), "name": names[int(c)] if int(c) < len(names) else f"class {int(c)}", "score": _finite(s)}
            for c, s in (found.top_classes[k] if k < len(found.top_classes) else [])]}
            for k in range(found.maps.shape[1])]
        result = {"layer": found.layer, "shape": list(found.maps.shape), "concepts": listed,
                  "buffers": ["maps", "regions", "images"]}
        regions = found.regions().astype(np.uint8)  # at most MAX_COMPONENTS concepts
        return Reply(result, [to_npy(found.maps.astype(np.float32)), to_npy(regions), to_npy(_images(session, inputs))])


def _inputs(session: ModelSession, args: dict, buffers: list[bytes]) -> Any:
    inputs = session._inputs(buffers)
    indices = args.get("indices")
    if indices is None:
        return inputs
    if not isinstance(indices, list) or not indices or not all(isinstance(i, int) for i in indices):
        raise BadRequest("indices must be a non-empty list of input positions.")
    return session._select(inputs, indices)


def _images(session: ModelSession, inputs: Any) -> np.ndarray:
    """The inputs as the views draw them: uint8 (N, H, W, 3), de-normalised as explain's are."""
    from ..imaging import normalisation_from, to_display_images

    return to_display_images(session.adapter.inputs_nchw(inputs), normalisation_from(**session.display))


def _display(values: np.ndarray) -> np.ndarray:
    """Per input, the magnitude scaled to [0, 1] (a signed attribution is drawn by its strength)."""
    flat = np.abs(values.reshape(len(values), -1)).astype(np.float32)
    peak = flat.max(axis=1, keepdims=True)
    return (flat / np.where(peak > 0, peak, 1)).reshape(values.shape)


def _callable(progress: Any) -> Any:
    return progress if callable(progress) else False


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _int(value: Any, name: str, low: int = -2**31, high: int = 2**31) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}.")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name} must be a number.")
    return float(value)


def _name(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise BadRequest(f"{name} must be a non-empty string.")
    return value


def _names(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > 32:
        raise BadRequest(f"{name} must be a list of 1 to 32 layer names.")
    return [_name(v, name) for v in value]


def _positions(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not value or len(value) > 32:
        raise BadRequest(f"{name} must be a list of 1 to 32 positions (1 = the closest class).")
    return [_int(v, name, 1, 100_000) for v in value]


def _kernel(value: Any, name: str) -> str:
    if value not in KERNELS:
        raise BadRequest(f"{name} must be one of {', '.join(KERNELS)}.")
    return value
