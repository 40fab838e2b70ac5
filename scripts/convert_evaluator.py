#!/usr/bin/env python3
"""Convert the official HumanML3D evaluator into the folder keta's `eval` crate reads.

Inputs (a user's own copies; none can be downloaded here):
  --checkpoint  text_mot_match/model/finest.tar (state dicts under movement_encoder,
                motion_encoder, text_encoder)
  --glove-dir   the folder with our_vab_data.npy, our_vab_words.pkl, our_vab_idx.pkl (300-d GloVe)
  --mean/--std  the evaluator's own Mean.npy / Std.npy (the t2m meta folder, [263])
Output folder (--out), see eval/src/folder.rs:
  evaluator.json, weights.safetensors (keys "<network>.<state-dict key>", float32),
  mean.npy, std.npy, vocab/words.txt + vocab/vectors.npy

Run with the project's venv: .venv/bin/python scripts/convert_evaluator.py --checkpoint ... --out DIR
The checkpoint is a pickle: convert only files you trust.
"""
import argparse
import json
import os
import pickle
import struct
import sys

import numpy as np
import torch

NETWORKS = ("movement_encoder", "motion_encoder", "text_encoder")
CONTACT_DIMS = 4
MAX_MOTION_LENGTH = 196
FORMAT_VERSION = 1


def write_safetensors(path, tensors):
    """The safetensors layout: u64 header length, JSON header, raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().cpu().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def config_from(state):
    """Sizes read off the weights, so that any evaluator of this architecture converts."""
    mov, mot, txt = (state[n] for n in NETWORKS)
    return {
        "feature_dim": int(mov["main.0.weight"].shape[1]) + CONTACT_DIMS,
        "contact_dims": CONTACT_DIMS,
        "word_dim": int(txt["pos_emb.weight"].shape[0]),
        "movement_hidden": int(mov["main.0.weight"].shape[0]),
        "movement_latent": int(mov["main.3.weight"].shape[0]),
        "motion_hidden": int(mot["gru.weight_hh_l0"].shape[1]),
        "text_hidden": int(txt["gru.weight_hh_l0"].shape[1]),
        "embedding_dim": int(mot["output_net.3.weight"].shape[0]),
        "max_motion_length": MAX_MOTION_LENGTH,
    }


def convert(checkpoint, glove_dir, mean_path, std_path, out, prefix="our_vab"):
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    missing = [n for n in NETWORKS if n not in ckpt]
    if missing:
        sys.exit(f"{checkpoint}: no {', '.join(missing)} state dict; is this text_mot_match/model/finest.tar?")
    state = {n: ckpt[n] for n in NETWORKS}
    cfg = config_from(state)

    vectors = np.load(os.path.join(glove_dir, f"{prefix}_data.npy"))
    with open(os.path.join(glove_dir, f"{prefix}_words.pkl"), "rb") as f:
        words = pickle.load(f)
    with open(os.path.join(glove_dir, f"{prefix}_idx.pkl"), "rb") as f:
        word2idx = pickle.load(f)
    if "unk" not in words:
        sys.exit(f"{glove_dir}: the vocabulary has no 'unk', which unknown words map to")
    bad = [w for w in words if not w or any(c.isspace() for c in w)]
    if bad:
        sys.exit(f"{glove_dir}: words with white space cannot go into words.txt: {bad[:4]}")
    # The reference's WordVectorizer: word2vec = {w: vectors[word2idx[w]] for w in words}.
    rows = np.stack([vectors[word2idx[w]] for w in words]).astype(np.float32)
    if rows.shape[1] != cfg["word_dim"]:
        sys.exit(f"word vectors have {rows.shape[1]} dims but the text encoder reads {cfg['word_dim']}")

    stats = {}
    for name, path in (("mean", mean_path), ("std", std_path)):
        a = np.load(path).astype(np.float32).reshape(-1)
        if a.shape[0] != cfg["feature_dim"]:
            sys.exit(f"{path}: {a.shape[0]} values but the evaluator reads {cfg['feature_dim']} features")
        stats[name] = a

    os.makedirs(os.path.join(out, "vocab"), exist_ok=True)
    with open(os.path.join(out, "vocab", "words.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(w + "\n" for w in words))
    np.save(os.path.join(out, "vocab", "vectors.npy"), rows)
    np.save(os.path.join(out, "mean.npy"), stats["mean"])
    np.save(os.path.join(out, "std.npy"), stats["std"])
    write_safetensors(os.path.join(out, "weights.safetensors"),
                      {f"{n}.{k}": v for n in NETWORKS for k, v in state[n].items()})
    card = {"format_version": FORMAT_VERSION, "origin": "humanml3d", "config": cfg,
            "vocab": {"folder": "vocab"}, "vocab_rows": len(words)}
    with open(os.path.join(out, "evaluator.json"), "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="text_mot_match/model/finest.tar")
    ap.add_argument("--glove-dir", required=True, help="folder with our_vab_data.npy, our_vab_words.pkl, our_vab_idx.pkl")
    ap.add_argument("--prefix", default="our_vab", help="file prefix of the vocabulary files")
    ap.add_argument("--mean", required=True, help="the evaluator's Mean.npy [263]")
    ap.add_argument("--std", required=True, help="the evaluator's Std.npy [263]")
    ap.add_argument("--out", required=True, help="evaluator folder to write")
    a = ap.parse_args()
    convert(a.checkpoint, a.glove_dir, a.mean, a.std, a.out, a.prefix)
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
