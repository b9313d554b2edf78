"""Sweep: every ONNX backend test model (node cases and shipped files) through cnnvis, one outcome
each against onnxruntime; prints the table. ``python benchmarks/sweep_onnx_backend.py [name ...]``."""

from __future__ import annotations

import collections
import sys
import time

from sweep_onnx_cases import file_cases, node_cases, outcome


def main(names: list[str]) -> int:
    wanted = set(names) or None
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    notes: list[str] = []
    reasons: collections.Counter = collections.Counter()
    start = time.perf_counter()
    for cases in (node_cases(wanted), file_cases(wanted)):
        for case in cases:
            result, detail = outcome(case)
            counts[case.family][result] += 1
            if result in ("crash", "wrong") or wanted:
                notes.append(f"{result:8} {case.family}/{case.name}: {detail}")
            elif result == "refused":
                reasons[detail[:70]] += 1
    print("n/a: onnxruntime itself cannot run the model (an op or dtype it lacks), so there is no reference")
    print(f"{'family':20} {'models':>7} {'n/a':>5} {'equal':>6} {'refused':>8} {'crash':>6} {'wrong':>6}")
    total: collections.Counter = collections.Counter()
    for family, c in counts.items():
        total.update(c)
        print(f"{family:20} {sum(c.values()):7} {c['n/a']:5} {c['equal']:6} {c['refused']:8} {c['crash']:6} "
              f"{c['wrong']:6}")
    runnable = sum(total.values()) - total["n/a"]
    print(f"{'all':20} {sum(total.values()):7} {total['n/a']:5} {total['equal']:6} {total['refused']:8} "
          f"{total['crash']:6} {total['wrong']:6}   ({time.perf_counter() - start:.0f} s)")
    print(f"refused: {total['refused'] / max(runnable, 1):.1%} of the {runnable} models onnxruntime runs")
    for reason, count in reasons.most_common():
        print(f"refused {count:5} x {reason}")
    for note in notes:
        print(note)
    return 1 if total["crash"] or total["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
