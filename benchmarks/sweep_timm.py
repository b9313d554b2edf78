"""Sweep: the common timm families, smallest variant each (random weights, nothing downloaded):
cnnvis's GradCAM on its default layer against pytorch-grad-cam with the matching reshape; prints
one outcome per model. ``python benchmarks/sweep_timm.py [model ...]``."""

from __future__ import annotations

import sys
import time

from sweep_torch_cases import classifier_outcome, print_table

MODELS = [  # one per family, the smallest variant
    "resnet10t", "resnext26ts", "efficientnet_b0", "mobilenetv3_small_050", "mobilenetv4_conv_small",
    "regnetx_002", "densenet121", "ghostnet_100", "rexnet_100", "mixnet_s", "dla34", "vgg11",
    "repvgg_a0", "cspresnet50", "hrnet_w18_small", "inception_v3", "convnext_atto", "convnextv2_atto",
    "efficientformer_l1", "poolformer_s12", "edgenext_xx_small", "fastvit_t8", "efficientvit_b0",
    "repvit_m1", "hgnetv2_b0", "inception_next_tiny", "nfnet_l0", "vit_tiny_patch16_224",
    "deit_tiny_patch16_224", "deit_tiny_distilled_patch16_224", "cait_xxs24_224",
    "swin_tiny_patch4_window7_224", "swinv2_cr_tiny_ns_224", "eva02_tiny_patch14_224",
    "beit_base_patch16_224", "xcit_nano_12_p16_224", "pit_ti_224", "levit_128s", "mobilevit_xxs",
    "maxvit_tiny_rw_224", "coatnet_nano_rw_224", "tiny_vit_5m_224", "pvt_v2_b0", "twins_svt_small",
    "mixer_s16_224", "resmlp_12_224", "convmixer_768_32", "visformer_tiny", "gcvit_xxtiny", "davit_tiny",
]


def main(names: list[str]) -> int:
    import timm
    import torch

    torch.set_num_threads(2)
    start = time.perf_counter()
    results = []
    for name in names or MODELS:
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False, num_classes=10).eval()
        size = model.pretrained_cfg.get("input_size", (3, 224, 224))[1:]
        x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
        family = name.split("_")[0].rstrip("0123456789")
        result, detail = classifier_outcome(model, x, channels_last=None)
        results.append((family, name, result, detail))
        print(f"{result:8} {name:34} {detail}", flush=True)
        del model
    total = print_table("timm zoo (smallest variant per family)", results, time.perf_counter() - start)
    return 1 if total.get("crash") or total.get("wrong") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
