"""Copies a safetensors file with every F32 tensor stored as F16 (other dtypes unchanged).

Used to carry the sentence encoder to the GPU machine within the device tool's size limit
(all-MiniLM-L6-v2: 91 MB -> 45 MB); keta's strict loader casts back to the model's dtype.
Needs numpy only (the safetensors format is an 8-byte header length, a JSON header, raw data).

    python3 scripts/half_safetensors.py IN.safetensors OUT.safetensors
"""
import json
import struct
import sys

import numpy as np


def main(src, dst):
    with open(src, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out_header, chunks, offset = {}, [], 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1].get("data_offsets", [0])[0] if kv[0] != "__metadata__" else -1):
        if name == "__metadata__":
            out_header[name] = info
            continue
        start, end = info["data_offsets"]
        raw = data[start:end]
        dtype = info["dtype"]
        if dtype == "F32":
            raw = np.frombuffer(raw, dtype="<f4").astype("<f2").tobytes()
            dtype = "F16"
        out_header[name] = {"dtype": dtype, "shape": info["shape"], "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    blob = json.dumps(out_header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # the format aligns the data to 8 bytes
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
