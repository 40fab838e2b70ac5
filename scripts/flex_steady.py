"""FlexAttention on the radial layout, timed at steady state.

The anchor (../shared/anchors/attn_anchor.py) times 20 calls right after torch.compile has kept
the GPU idle, so its FlexAttention figure moves by up to 1.7x between runs on the same machine
(H100, 64k tokens, d64: 0.473 and 0.804 ms in two calls). This script takes the anchor's block rule and block
mask as they are (it runs the anchor's definitions, not a copy), warms the GPU with 200 calls per
shape and reports the median of 9 windows of 50 calls, the way `keta bench attention` times our
kernels. One JSON line per shape: L, D, flex_radial_ms (median) and the window range.

    python3 scripts/flex_steady.py /path/to/attn_anchor.py
"""
import json
import statistics
import sys

import torch

anchor = open(sys.argv[1]).read()
# Everything above the anchor's timing helper: imports, the compiled flex_attention, the block rule.
env = {}
exec(anchor[: anchor.index("def bench(")], env)
flex, radial_blocks, block_mask = env["flex"], env["radial_blocks"], env["block_mask"]
BLOCK = env["B"]


def windows(fn, warm=200, runs=9, calls=50):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / calls)
    return times


for b, length, heads, dim in [(1, 4096, 8, 64), (1, 16384, 8, 64), (1, 65536, 8, 64),
                              (1, 16384, 8, 128), (1, 65536, 8, 128)]:
    q, k, v = (torch.randn(b, heads, length, dim, device="cuda", dtype=torch.bfloat16)
               for _ in range(3))
    mask = block_mask(radial_blocks(length // BLOCK))
    with torch.no_grad():
        t = windows(lambda: flex(q, k, v, block_mask=mask))
    print(json.dumps({"L": length, "D": dim, "flex_radial_ms": round(statistics.median(t), 4),
                      "min_ms": round(min(t), 4), "max_ms": round(max(t), 4)}), flush=True)
