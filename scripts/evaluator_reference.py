#!/usr/bin/env python3
"""The HumanML3D evaluator in PyTorch, as the reference defines it (text-to-motion
`networks/modules.py`: MovementConvEncoder, MotionEncoderBiGRUCo, TextEncoderBiGRUCo with
pack_padded_sequence; `utils/word_vectorizer.py`'s token rule; `evaluator_wrapper.py`'s
length-sorted encoding), and a fixture for eval/tests/official_import.rs:

  python scripts/evaluator_reference.py OUT_DIR

builds the three networks with random weights at small sizes, saves a fake finest.tar, a fake
our_vab vocabulary and Mean/Std, converts them with scripts/convert_evaluator.py into
OUT_DIR/converted, and writes the reference embeddings of fixed motions (variable lengths) and
token lists: OUT_DIR/{motions.npy, motion_lengths.npy, tokens.json, motion_emb.npy, text_emb.npy}.
"""
import json
import os
import pickle
import sys

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_evaluator  # noqa: E402

POS = ["VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV",
       "Loc_VIP", "Body_VIP", "Obj_VIP", "Act_VIP", "Desc_VIP", "OTHER"]
VIP = {
    "Loc_VIP": ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back",
                "backward", "up", "down", "straight", "curve"),
    "Body_VIP": ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee",
                 "shoulder", "thigh"),
    "Obj_VIP": ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball",
                "basketball"),
    "Act_VIP": ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance",
                "jump", "turn", "stumble", "dance", "stop", "sit", "lift", "lower", "raise", "wash", "stand",
                "kneel", "stroll", "rub", "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin",
                "spread", "climb"),
    "Desc_VIP": ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad",
                 "happily", "angrily", "sadly"),
}


def init_weight(m):
    if isinstance(m, (nn.Conv1d, nn.Linear)):
        nn.init.xavier_normal_(m.weight)
        if m.bias is not None:
            nn.init.constant_(m.bias, 0)


class MovementConvEncoder(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1), nn.Dropout(0.2, inplace=True),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1), nn.Dropout(0.2, inplace=True),
            nn.LeakyReLU(0.2, inplace=True))
        self.out_net = nn.Linear(output_size, output_size)
        self.main.apply(init_weight)
        self.out_net.apply(init_weight)

    def forward(self, inputs):
        return self.out_net(self.main(inputs.permute(0, 2, 1)).permute(0, 2, 1))


class MotionEncoderBiGRUCo(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(
            nn.Linear(hidden_size * 2, hidden_size), nn.LayerNorm(hidden_size),
            nn.LeakyReLU(0.2, inplace=True), nn.Linear(hidden_size, output_size))
        self.input_emb.apply(init_weight)
        self.output_net.apply(init_weight)
        self.hidden = nn.Parameter(torch.randn((2, 1, hidden_size), requires_grad=True))

    def forward(self, inputs, m_lens):
        hidden = self.hidden.repeat(1, inputs.shape[0], 1)
        emb = pack_padded_sequence(self.input_emb(inputs), m_lens.data.tolist(), batch_first=True)
        _, gru_last = self.gru(emb, hidden)
        return self.output_net(torch.cat([gru_last[0], gru_last[1]], dim=-1))


class TextEncoderBiGRUCo(nn.Module):
    def __init__(self, word_size, pos_size, hidden_size, output_size):
        super().__init__()
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.input_emb = nn.Linear(word_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(
            nn.Linear(hidden_size * 2, hidden_size), nn.LayerNorm(hidden_size),
            nn.LeakyReLU(0.2, inplace=True), nn.Linear(hidden_size, output_size))
        self.input_emb.apply(init_weight)
        self.pos_emb.apply(init_weight)
        self.output_net.apply(init_weight)
        self.hidden = nn.Parameter(torch.randn((2, 1, hidden_size), requires_grad=True))

    def forward(self, word_embs, pos_onehot, cap_lens):
        inputs = self.input_emb(word_embs + self.pos_emb(pos_onehot))
        hidden = self.hidden.repeat(1, word_embs.shape[0], 1)
        emb = pack_padded_sequence(inputs, cap_lens.data.tolist(), batch_first=True)
        _, gru_last = self.gru(emb, hidden)
        return self.output_net(torch.cat([gru_last[0], gru_last[1]], dim=-1))


def vectorize(token, word2vec):
    """The reference WordVectorizer.__getitem__."""
    word, pos = token.split("/")
    onehot = np.zeros(len(POS), dtype=np.float32)
    if word in word2vec:
        vip = next((k for k, v in VIP.items() if word in v), None)
        onehot[POS.index(vip or (pos if pos in POS else "OTHER"))] = 1
        return word2vec[word], onehot
    onehot[POS.index("OTHER")] = 1
    return word2vec["unk"], onehot


def sequence(tokens, max_text_len=20):
    """Text2MotionDatasetV2's sos/eos/unk framing."""
    if len(tokens) < max_text_len:
        tokens = ["sos/OTHER"] + tokens + ["eos/OTHER"]
        n = len(tokens)
        return tokens + ["unk/OTHER"] * (max_text_len + 2 - n), n
    tokens = ["sos/OTHER"] + tokens[:max_text_len] + ["eos/OTHER"]
    return tokens, len(tokens)


def main(out):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    feat, word_dim, max_len = 263, 6, 196
    mov = MovementConvEncoder(feat - 4, 16, 12).eval()
    mot = MotionEncoderBiGRUCo(12, 20, 8).eval()
    txt = TextEncoderBiGRUCo(word_dim, len(POS), 10, 8).eval()
    # Non-zero biases, so that the test sees them.
    with torch.no_grad():
        for m in (mov, mot, txt):
            for name, p in m.named_parameters():
                if name.endswith("bias"):
                    p.normal_(0, 0.3)
    torch.save({"movement_encoder": mov.state_dict(), "motion_encoder": mot.state_dict(),
                "text_encoder": txt.state_dict(), "epoch": 1}, os.path.join(out, "finest.tar"))

    words = ["unk", "sos", "eos", "a", "person", "walk", "forward", "left", "hand", "wave", "the", "jump"]
    # Rows stored out of order through word2idx, as the reference pickles allow.
    order = rng.permutation(len(words) + 3)[:len(words)]
    data = rng.normal(size=(len(words) + 3, word_dim)).astype(np.float32)
    word2idx = {w: int(i) for w, i in zip(words, order)}
    glove = os.path.join(out, "glove")
    os.makedirs(glove, exist_ok=True)
    np.save(os.path.join(glove, "our_vab_data.npy"), data)
    with open(os.path.join(glove, "our_vab_words.pkl"), "wb") as f:
        pickle.dump(words, f)
    with open(os.path.join(glove, "our_vab_idx.pkl"), "wb") as f:
        pickle.dump(word2idx, f)
    mean = rng.normal(size=feat).astype(np.float32)
    std = rng.uniform(0.5, 2.0, size=feat).astype(np.float32)
    np.save(os.path.join(out, "Mean.npy"), mean)
    np.save(os.path.join(out, "Std.npy"), std)
    convert_evaluator.convert(os.path.join(out, "finest.tar"), glove, os.path.join(out, "Mean.npy"),
                              os.path.join(out, "Std.npy"), os.path.join(out, "converted"))

    # Motions: raw features, padded to different lengths with garbage that must not matter.
    lengths = np.array([196, 40, 123, 7, 64], dtype=np.int64)
    motions = rng.normal(size=(len(lengths), 150 + 46, feat)).astype(np.float32) * std + mean
    norm = (motions - mean) / std
    for i, n in enumerate(lengths):
        norm[i, n:] = 0  # the reference pads normalised motions with zeros to 196 frames
    order = np.argsort(lengths)[::-1].copy()  # evaluator_wrapper sorts by length, longest first
    with torch.no_grad():
        x = torch.from_numpy(norm[order])
        movements = mov(x[..., :-4])
        emb = mot(movements, torch.from_numpy(lengths[order] // 4))
    motion_emb = np.empty((len(lengths), 8), dtype=np.float32)
    motion_emb[order] = emb.numpy()

    token_lists = [
        ["a/DET", "person/NOUN", "walk/VERB", "forward/ADV"],
        ["the/DET", "person/NOUN", "wave/VERB", "the/DET", "left/ADJ", "hand/NOUN", "twice/ADV"],
        ["jump/VERB"],
        ["a/DET"] * 25,
        ["hand/VERB", "unknown/NOUN", "a/CCONJ"],
    ]
    word2vec = {w: data[word2idx[w]] for w in words}
    seqs = [sequence(t) for t in token_lists]
    vecs = [[vectorize(tok, word2vec) for tok in s] for s, _ in seqs]
    word_embs = np.stack([[v for v, _ in s] for s in vecs]).astype(np.float32)
    pos = np.stack([[p for _, p in s] for s in vecs]).astype(np.float32)
    cap_lens = np.array([n for _, n in seqs], dtype=np.int64)
    order = np.argsort(cap_lens, kind="stable")[::-1].copy()
    with torch.no_grad():
        emb = txt(torch.from_numpy(word_embs[order]), torch.from_numpy(pos[order]),
                  torch.from_numpy(cap_lens[order]))
    text_emb = np.empty((len(token_lists), 8), dtype=np.float32)
    text_emb[order] = emb.numpy()

    np.save(os.path.join(out, "motions.npy"), motions)
    np.save(os.path.join(out, "motion_lengths.npy"), lengths)
    np.save(os.path.join(out, "motion_emb.npy"), motion_emb)
    np.save(os.path.join(out, "text_emb.npy"), text_emb)
    with open(os.path.join(out, "tokens.json"), "w") as f:
        json.dump(token_lists, f)


if __name__ == "__main__":
    main(sys.argv[1])
