#!/usr/bin/env python3
"""Max abs difference between the tensors of two safetensors files (numpy only, no torch).

    scripts/compare_weights.py A.safetensors B.safetensors [--skip-key-bias] [--tol 1e-5]

--skip-key-bias leaves out the key third of every attention `qkv.bias`: its exact gradient is zero,
so AdamW's g / (|g| + eps) turns rounding noise into steps of up to lr (see the data-parallel test in
motion/src/training/tests.rs). Exit 1 when a difference exceeds --tol.
"""
import argparse
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        lo, hi = meta["data_offsets"]
        out[name] = np.frombuffer(data[lo:hi], dtype=DTYPES[meta["dtype"]]).reshape(meta["shape"])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--skip-key-bias", action="store_true")
    p.add_argument("--tol", type=float, default=1e-5)
    args = p.parse_args()
    a, b = read(args.a), read(args.b)
    if a.keys() != b.keys():
        sys.exit(f"different keys: {sorted(a.keys() ^ b.keys())}")
    worst, where = 0.0, ""
    for name in sorted(a):
        x, y = a[name].astype(np.float64), b[name].astype(np.float64)
        if args.skip_key_bias and name.endswith("attn.qkv.bias"):
            third = x.shape[0] // 3
            keep = np.r_[0:third, 2 * third : x.shape[0]]
            x, y = x[keep], y[keep]
        d = float(np.abs(x - y).max()) if x.size else 0.0
        if d > worst:
            worst, where = d, name
    print(json.dumps({"max_abs_diff": worst, "tensor": where, "tensors": len(a)}))
    sys.exit(0 if worst <= args.tol else 1)


if __name__ == "__main__":
    main()
