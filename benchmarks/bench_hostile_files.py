"""Hostile files cost what their size says: parse time of crafted megabyte lines per megabyte of an
ordinary log (a ratio near or below 1 means linear-time parsing), and the memory an inflating .npz
takes to be refused or read to its limit.

    python benchmarks/bench_hostile_files.py
"""

from __future__ import annotations

import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

MIB = 2**20


def _seconds(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _log(folder: Path, name: str, lines: list[str]) -> Path:
    head = ["&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec --verbose",
            "[I] [TRT] Engine Layer Information:"]
    path = folder / name
    path.write_text("\n".join(head + lines) + "\n")
    return path


def trtexec(folder: Path) -> None:
    from cnnvis.adapters.tensorrt.log import read_trtexec_log
    from cnnvis.errors import CnnvisError

    layer = "Layer(CaskConvolution): conv{i}, Tactic: 0x1, in{i} (Float[1,3,8,8]) -> out{i} (Float[1,4,8,8])"
    ordinary = _log(folder, "ordinary.log", [layer.format(i=i) for i in range(MIB // len(layer))])
    per_mib = _seconds(lambda: read_trtexec_log(ordinary)) / (ordinary.stat().st_size / MIB)
    print(f"trtexec log, ordinary layers: {per_mib * 1000:.1f} ms per MiB")
    hostile = {"spaces": " " * MIB, "' (A[' repeated": " (A[" * (MIB // 4)}
    for label, line in hostile.items():
        path = _log(folder, "hostile.log", [f"Layer(Conv): c, Tactic: 0x1, {line} -> {line}",
                                            "=== Profile (1 iterations ) ===", "head", line + " 1 2 3 4"])

        def parse(p=path):
            try:
                read_trtexec_log(p)
            except CnnvisError:
                pass

        seconds = _seconds(parse) / (path.stat().st_size / MIB)
        print(f"trtexec log, {label}: {seconds * 1000:.1f} ms per MiB, ratio to ordinary {seconds / per_mib:.2f}")


def names() -> None:
    from cnnvis.adapters.tensorrt.names import op_type, parse_layer_name

    ordinary = "layer1.0.conv1.weight + /layer1/layer1.0/conv1/Conv + /layer1/layer1.0/relu/Relu"
    base = _seconds(lambda: [op_type(t) for t in parse_layer_name.__wrapped__(ordinary).nodes]) / len(ordinary)
    for label, name in {"underscores": "_" * 40000 + "x", "spaces + [profile]": " " * 40000 + "[profile 1]"}.items():
        cost = _seconds(lambda n=name: op_type(parse_layer_name.__wrapped__(n).raw)) / len(name)
        print(f"TensorRT layer name, 40,000 {label}: ratio per character to an ordinary name {cost / base:.2f}")


def npz_bomb(folder: Path) -> None:
    from cnnvis.services.codec import read_inputs_file
    from cnnvis.services.errors import PayloadTooLarge

    path = folder / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("inputs.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False,
                                                      "shape": (512, 1024, 1024)})
        for _ in range(128):
            member.write(bytes(4 * MIB))
    peak, done = [_status_kb("VmRSS")], threading.Event()
    before = peak[0]

    def sample() -> None:  # resident memory every millisecond while the reads run
        while not done.wait(0.001):
            peak[0] = max(peak[0], _status_kb("VmRSS"))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        read_inputs_file(path)
    except PayloadTooLarge:
        pass
    first = read_inputs_file(path, limit=1)
    done.set()
    sampler.join()
    grown = (max(peak[0], _status_kb("VmRSS")) - before) / 1024
    print(f".npz of {path.stat().st_size / 1024:.0f} KB declaring 512 MiB: refused, and read to inputs_limit=1 "
          f"({first.nbytes / MIB:.0f} MiB); peak memory grew {grown:.1f} MB, {grown / 512:.4f} of the declared size")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trtexec(Path(tmp))
        names()
        npz_bomb(Path(tmp))


if __name__ == "__main__":
    main()
