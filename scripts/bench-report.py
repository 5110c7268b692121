#!/usr/bin/env python3
"""Summarises the codec benchmark from criterion's estimates (target/criterion).

Prints, per message and batch size, MB/s and messages/s of each variant, and the time ratio of
each framed variant to its bare-prost baseline (1.05 = framing adds 5%).
Usage: scripts/bench-report.py [TARGET_DIR]
"""
import json, pathlib, sys

FRAMES = 64  # frames per iteration, as in weshop-proto/benches/codec.rs
root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target") / "criterion"
BASELINE = {"frame_unchecked": "prost", "frame": "prost", "codec": "prost", "prost_owned": None}
ENCODE_BASELINE = {"frame": "prost", "codec": "prost_owned"}

def estimate(op, msg, variant, n):
    base = root / f"{op}_{msg}" / variant / str(n)
    est = base / "new" / "estimates.json"
    bench = base / "new" / "benchmark.json"
    if not est.exists():
        return None, None
    ns = json.loads(est.read_text())["median"]["point_estimate"]
    tp = json.loads(bench.read_text()).get("throughput") or {}
    return ns, tp.get("Bytes")

for op, baselines in (("decode", BASELINE), ("encode", ENCODE_BASELINE)):
    for msg in ("ACommands", "AResponses"):
        for n in (1, 10, 100):
            rows = []
            variants = ["prost", "frame_unchecked", "frame", "codec"] if op == "decode" else ["prost", "frame", "prost_owned", "codec"]
            for v in variants:
                ns, nbytes = estimate(op, msg, v, n)
                if ns is None:
                    continue
                mbs = nbytes / ns * 1e9 / 1e6 if nbytes else float("nan")
                msgs = FRAMES / ns * 1e9
                base = baselines.get(v)
                ratio = ""
                if base:
                    bns, _ = estimate(op, msg, base, n)
                    if bns:
                        ratio = f"x{ns / bns:.3f} vs {base}"
                rows.append(f"  {v:16} {mbs:9.1f} MB/s {msgs:12.0f} msg/s  {ratio}")
            if rows:
                print(f"{op} {msg} ({n} items/message)")
                print("\n".join(rows))
