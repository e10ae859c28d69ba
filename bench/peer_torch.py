#!/usr/bin/python3
"""peer_torch: the PyTorch peer of `hashemb train` with a full embedding table (SPEC 5, 8).

DeepFM or MLP of exactly hashemb's shape, trained on the same prepared dataset directory (SPEC 3.1,
read with numpy.memmap), with the same hyper-parameters: Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8) on the
dense parameters, torch.optim.SparseAdam (the lazy form) on one nn.Embedding(sparse=True) per field,
batch 4096, embeddings N(0, 1e-4 std), Xavier-uniform Linear weights, zero biases. Each epoch: one pass
over train in a seeded permutation (not hashemb's block shuffle), then exact valid and test AUC
(midranks) and logloss; best epoch by valid AUC, --patience as in hashemb. samples_per_sec counts the
training steps only (hashemb's train_seconds: evaluation excluded).

With --init DIR (what `hashemb train --dump-init DIR` wrote) the peer starts where hashemb starts: the
same initial tables and dense parameters, the same epoch orders, and each field's strategy with the
layout hashemb's planner chose (hash rows m, qr's m and op, bh's code bits, blocks, tables and fusion).
The strategies are written here from their papers' public code, not from hashemb's C:
- hash: the hashing trick, row = XXH64(le32(id), seed_f) mod m, XXH64 written from xxHash's spec (numpy,
  the 4-byte path) and checked against ../shared/vectors/hash_rows.tsv when it is there;
- qr: dlrm's QREmbeddingBag (tricks/qr_embedding_bag.py): quotient row id // m, remainder row id % m,
  combined by mult, add or concat (quotient first);
- bh: Yan et al.'s binary code (the TensorFlow op of QunBB/DeepLearning): the id's code (the id, or the
  low S bits of its XXH64), cut into succession or skip blocks, each block's bits packed into a row
  index (per-block tables offset by the blocks before), the block vectors summed, averaged or
  concatenated; SPEC 4's departures from the op as in tests/fixtures/gen_strategy_fixture.py.
torch.optim.SparseAdam updates every table (eps added to sqrt(v); hashemb adds it to sqrt(v_hat)).

Prints one TSV row (header + row) on stdout; progress and the set-up on stderr.
Run it with Debian's python3-torch: /usr/bin/python3 bench/peer_torch.py --data DIR --threads 2
Optional: nothing in hashemb depends on it.
"""
import argparse
import ctypes
import os
import subprocess
import sys
import time

HEADER = 64
FLAG_PROB = 1


def blas_core_env():
    """Set OPENBLAS_CORETYPE the way hashemb would, before torch (and its OpenBLAS) loads.

    Debian's torch calls libblas.so.3, the OpenBLAS build the alternatives system points to. hashemb
    fixes a generic core ("Prescott") on AVX2/AVX-512 CPUs; we ask hashemb itself what it would use when
    it is built, else leave OpenBLAS to detect the core. The user's setting wins.
    """
    if os.environ.get("OPENBLAS_CORETYPE"):
        return "set by the user"
    here = os.path.dirname(os.path.abspath(__file__))
    exe = os.path.join(here, "..", "build", "hashemb")
    if os.access(exe, os.X_OK):
        try:
            out = subprocess.run([exe, "bench", "auc", "--n", "2", "--reps", "1", "--threads", "1"],
                                 capture_output=True, text=True, timeout=30).stderr
            # "# hashemb bench auc SHA: OpenBLAS core Haswell (fixed by hashemb), ..."
            if "(fixed by hashemb)" in out:
                core = out.split("OpenBLAS core ", 1)[1].split(" ", 1)[0]
                os.environ["OPENBLAS_CORETYPE"] = core
                return "fixed as hashemb does"
        except (OSError, subprocess.SubprocessError, IndexError):
            pass
    return "detected"


CORE_SOURCE = blas_core_env()

import numpy as np  # noqa: E402  (after the environment is set)
import torch  # noqa: E402


def openblas_core():
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name, mode=getattr(os, "RTLD_NOLOAD", 4))
            f = lib.openblas_get_corename
            f.restype = ctypes.c_char_p
            return f().decode(), int(lib.openblas_get_parallel())
        except (OSError, AttributeError):
            continue
    return "unknown", -1


def read_meta(d):
    meta = {}
    with open(os.path.join(d, "dataset.meta")) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                k, v = line.split("=", 1)
                meta[k] = v
    return meta


def pad64(n):
    return (n + 63) // 64 * 64


def read_split(path, fields):
    """labels (rows,) u8, ids (rows, fields) u32, as memory maps; checks magic, version and size."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    if bytes(raw[:8]) != b"HEMBDS\x00\x01":
        sys.exit(f"peer_torch: {path}: bad magic")
    hdr = raw[:HEADER].tobytes()
    version = int.from_bytes(hdr[8:12], "little")
    nf = int.from_bytes(hdr[12:16], "little")
    rows = int.from_bytes(hdr[16:24], "little")
    flags = int.from_bytes(hdr[24:28], "little")
    if version != 1 or nf != fields:
        sys.exit(f"peer_torch: {path}: version {version}, {nf} fields (meta says {fields})")
    lab_off = HEADER
    ids_off = lab_off + pad64(rows)
    prob_off = ids_off + pad64(rows * fields * 4)
    total = prob_off + (rows * 4 if flags & FLAG_PROB else 0)
    if raw.shape[0] != total:
        sys.exit(f"peer_torch: {path}: {raw.shape[0]} bytes, header needs {total}")
    labels = np.memmap(path, dtype=np.uint8, mode="r", offset=lab_off, shape=(rows,))
    ids = np.memmap(path, dtype=np.uint32, mode="r", offset=ids_off, shape=(rows, fields))
    return labels, ids


def auc_exact(score, label):
    """Mann-Whitney AUC with midranks for ties (SPEC 5); NaN without both classes."""
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label).astype(bool)
    npos = int(label.sum())
    nneg = label.size - npos
    if npos == 0 or nneg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    # midranks: runs of equal scores share the mean of their 1-based ranks
    starts = np.concatenate(([True], s[1:] != s[:-1]))
    run_id = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.concatenate((first[1:], [s.size])) - 1
    mid = (first + last) / 2.0 + 1.0
    ranks = np.empty(s.size)
    ranks[order] = mid[run_id]
    rank_sum = ranks[label].sum()
    return float((rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg))


def logloss_logit(z, label):
    p = 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))
    p = np.clip(p, 1e-7, 1 - 1e-7)
    y = np.asarray(label, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# --- XXH64 of 4 little-endian bytes (xxHash's spec: the short-input path), vectorised ---------------

P1, P2, P3, P5 = (np.uint64(x) for x in (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                                         0x27D4EB2F165667C5))


def xxh64_u32(v, seed):
    """XXH64 of le32(v) for an array of v (uint32 values) and one 64-bit seed; uint64 arithmetic wraps."""
    v = np.asarray(v, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(v.shape, np.uint64((int(seed) + 0x27D4EB2F165667C5 + 4) % (1 << 64)), dtype=np.uint64)
        h ^= v * P1
        h = ((h << np.uint64(23)) | (h >> np.uint64(41))) * P2 + P3
        h ^= h >> np.uint64(33)
        h *= P2
        h ^= h >> np.uint64(29)
        h *= P3
        return h ^ (h >> np.uint64(32))


def check_hash_vectors():
    """The hash against SPEC 4's known answers, when ../shared/vectors is there; the count checked."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "vectors",
                        "hash_rows.tsv")
    if not os.path.exists(path):
        return 0
    n = 0
    with open(path) as fh:
        for line in fh:
            if line.startswith("#") or line.startswith("seed"):
                continue
            seed, f, sf, x, h, m, row = (int(c) for c in line.split("\t"))
            if int(xxh64_u32([f], seed)[0]) != sf or int(xxh64_u32([x], sf)[0]) != h or h % m != row:
                sys.exit(f"peer_torch: XXH64 disagrees with {path}: {line.strip()}")
            n += 1
    return n


# --- the strategies of one field -------------------------------------------------------------------

def read_init(d):
    """DIR/init.tsv of hashemb train --dump-init: (keys, fields, tables)."""
    keys, fields, tables = {}, [], {}
    with open(os.path.join(d, "init.tsv")) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            c = line.rstrip("\n").split("\t")
            if c[0] == "field":  # field f N strategy seed_f key=value ...
                L = dict(kv.split("=", 1) for kv in c[5].split(" ") if kv != "-")
                fields.append({"f": int(c[1]), "N": int(c[2]), "kind": c[3], "seed_f": int(c[4]),
                               "m": int(L.get("m", 0)), "qr_op": L.get("op"), "S": int(L.get("S", 0)),
                               "t": int(L.get("t", 0)), "n": int(L.get("n", 0)),
                               "lengths": [int(x) for x in L["lengths"].split(",")] if "lengths" in L else [],
                               "bh_blocks": L.get("blocks"), "bh_table": L.get("table"),
                               "bh_fuse": L.get("fuse"), "bh_hashed": int(L.get("hashed", 0)), "layout": L})
            elif c[0] == "table":
                tables.setdefault(int(c[1]), []).append((int(c[3]), int(c[4]), c[5]))
            elif c[0] == "order":
                keys.setdefault("orders", []).append(c[2])
            else:
                keys[c[0]] = c[1:]
    if keys.get("version") != ["1"]:
        sys.exit(f"peer_torch: {d}/init.tsv: not version 1 of hashemb train --dump-init")
    return keys, fields, tables


def bh_blocks(S, t, kind, n):
    """The code bits of each block, least significant first (SPEC 4): succession blocks of t
    consecutive bits; skip block j the bits j, j+n, j+2n, ..."""
    if kind == "succession":
        return [list(range(j * t, min(S, (j + 1) * t))) for j in range(n)]
    return [list(range(j, S, n)) for j in range(n)]


def concat_widths(w, n):
    return [w // n + (1 if j < w % n else 0) for j in range(n)]


class Field(torch.nn.Module):
    """One field's embedding: its tables (nn.Embedding, sparse gradients) and how an id reads them."""

    def __init__(self, L, w, seed):
        super().__init__()
        self.kind, self.w, N = L["kind"], w, L["N"]
        if L["seed_f"] != int(xxh64_u32([L["f"]], seed)[0]):
            sys.exit(f"peer_torch: field {L['f']}: seed_f {L['seed_f']} is not XXH64(le32(f), seed)")
        ids = np.arange(N, dtype=np.uint32)
        if self.kind == "full":
            shapes = [(N, w)]
        elif self.kind == "hash":
            m = L["m"]
            shapes = [(m, w)]
            self.register_buffer("rows", torch.from_numpy((xxh64_u32(ids, L["seed_f"]) % np.uint64(m))
                                                          .astype(np.int64)))
        elif self.kind == "qr":
            m, self.op, self.m = L["m"], L["qr_op"], L["m"]
            wq, wr = ((w + 1) // 2, w // 2) if self.op == "concat" else (w, w)
            shapes = [(-(-N // m), wq), (m, wr)]
        elif self.kind == "bh":
            S, n, self.fuse = L["S"], L["n"], L["bh_fuse"]
            if not L["bh_hashed"] and N > 1 << S:  # the id as its code needs ceil(log2 N) bits
                sys.exit(f"peer_torch: field {L['f']}: {N} ids do not fit an unhashed code of {S} bits")
            blocks = bh_blocks(S, L["t"], L["bh_blocks"], n)
            if [len(b) for b in blocks] != L["lengths"]:
                sys.exit(f"peer_torch: field {L['f']}: block lengths {L['lengths']} are not those of "
                         f"S={S} t={L['t']} {L['bh_blocks']}")
            code = (xxh64_u32(ids, L["seed_f"]) & np.uint64((1 << S) - 1) if L["bh_hashed"]
                    else ids.astype(np.uint64))
            rows, start = np.zeros((N, n), dtype=np.int64), 0
            per_block = L["bh_table"] == "per-block" and self.fuse != "concat"
            for j, bits in enumerate(blocks):
                idx = np.zeros(N, dtype=np.uint64)
                for k, b in enumerate(bits):
                    idx |= ((code >> np.uint64(b)) & np.uint64(1)) << np.uint64(k)
                rows[:, j] = idx.astype(np.int64) + (start if per_block else 0)
                start += 1 << len(bits)
            self.register_buffer("rows", torch.from_numpy(rows))
            lens = [len(b) for b in blocks]
            if self.fuse == "concat":
                shapes = [(1 << ln, cw) for ln, cw in zip(lens, concat_widths(w, n))]
            elif L["bh_table"] == "shared":
                shapes = [(1 << max(lens), w)]
            else:
                shapes = [(sum(1 << ln for ln in lens), w)]
        elif self.kind == "dhash":  # Svenstrup et al.: sum_i p_i E[XXH64(id, seed_f + i) mod m]
            D = L["layout"]
            m, self.k, K = int(D["m"]), int(D["k"]), int(D["K"])
            self.learned = D["weights"] == "learned"
            rows = np.stack([xxh64_u32(ids, (L["seed_f"] + i) % (1 << 64)) % np.uint64(m)
                             for i in range(self.k)], 1)
            self.register_buffer("rows", torch.from_numpy(rows.astype(np.int64)))
            shapes = [(m, w)]
            if self.learned:
                wrow = ids.astype(np.uint64) if K == N else \
                    xxh64_u32(ids, (L["seed_f"] + self.k) % (1 << 64)) % np.uint64(K)
                self.register_buffer("wrow", torch.from_numpy(wrow.astype(np.int64)))
                shapes.append((K, self.k))
        elif self.kind == "robe":  # Desai et al.'s ROBE-Z: chunks of Z elements at hashed offsets, signed
            D = L["layout"]
            M, z = int(D["M"]), int(D["Z"])
            C = -(-w // z)
            idx, sgn = np.zeros((N, w), dtype=np.int64), np.zeros((N, w), dtype=np.float32)
            for c in range(C):
                off = xxh64_u32(ids, (L["seed_f"] + c) % (1 << 64)) % np.uint64(M)
                s = xxh64_u32(ids, (L["seed_f"] + C + c) % (1 << 64))
                for j in range(min(z, w - c * z)):
                    idx[:, c * z + j] = ((off + np.uint64(j)) % np.uint64(M)).astype(np.int64)
                    sgn[:, c * z + j] = 1.0 - 2.0 * ((s >> np.uint64(j)) & np.uint64(1)).astype(np.float32)
            self.register_buffer("idx", torch.from_numpy(idx))
            self.register_buffer("sgn", torch.from_numpy(sgn))
            shapes = [(M, 1)]
        elif self.kind == "hotcold":  # the H most frequent train ids own rows (ties: smaller id), the rest hashed
            D = L["layout"]
            H, m = int(D["hot"]), int(D["m"])
            cnt = L["counts"]
            order = np.lexsort((np.arange(N), -cnt.astype(np.int64)))  # count descending, then id
            hot = np.sort(order[:H])
            row = (xxh64_u32(ids, L["seed_f"]) % np.uint64(m)).astype(np.int64)
            is_hot = np.zeros(N, dtype=bool)
            is_hot[hot] = True
            row[hot] = np.arange(H)
            self.register_buffer("row", torch.from_numpy(row))
            self.register_buffer("is_hot", torch.from_numpy(is_hot))
            shapes = [(m, w)] + ([(H, w)] if H else [])
        elif self.kind == "mde":  # Ginart et al.'s blocks by train count: E_i (n_i, d_i), then P_i (d_i, w) if d_i < w
            D = L["layout"]
            dims, sizes = [int(v) for v in D["dims"].split(",")], [int(v) for v in D["sizes"].split(",")]
            order = np.lexsort((np.arange(N), -L["counts"].astype(np.int64)))  # count descending, then id
            rank = np.empty(N, dtype=np.int64)
            rank[order] = np.arange(N)
            starts = np.cumsum([0] + sizes)
            block = np.searchsorted(starts, rank, side="right") - 1
            self.register_buffer("block", torch.from_numpy(block))
            self.register_buffer("brow", torch.from_numpy(rank - starts[block]))
            shapes, self.tE, self.tP, self.dims = [], [], [], dims
            for n_i, d_i in zip(sizes, dims):
                self.tE.append(len(shapes))
                shapes.append((n_i, d_i))
                self.tP.append(len(shapes) if d_i < w else None)
                if d_i < w:
                    shapes.append((d_i, w))
        elif self.kind == "tt":  # TT-Rec: three cores, the row's first w of w1 w2 w3 columns
            D = L["layout"]
            self.R, self.n = int(D["R"]), (int(D["n1"]), int(D["n2"]), int(D["n3"]))
            self.wf = (int(D["w1"]), int(D["w2"]), int(D["w3"]))
            R, (w1, w2, w3) = self.R, self.wf
            shapes = [(self.n[0], w1 * R), (self.n[1], R * w2 * R), (self.n[2], R * w3)]
        elif self.kind == "dhe":  # Kang et al.: k hashes mod 1e6 as an encoding, L Linear + Mish layers, Linear to w
            D = L["layout"]
            self.k, self.d, self.layers, self.dist = int(D["k"]), int(D["d"]), int(D["layers"]), D["dist"]
            self.seed_f = L["seed_f"]
            shapes = [(self.k + 1, self.d)] + [(self.d + 1, self.d)] * (self.layers - 1) + [(self.d + 1, w)]
        elif self.kind == "qr3":  # three complementary partitions: A[id % m] op B[(id / m) % m] op C[id / m^2]
            D = L["layout"]
            self.m, self.q, self.op = int(D["m"]), int(D["q"]), D["op"]
            shapes = [(self.m, w), (self.m, w), (self.q, w)]
        else:
            sys.exit(f"peer_torch: field {L['f']}: strategy '{self.kind}' is not one the peer knows")
        self.shapes = shapes
        self.tables = torch.nn.ModuleList(torch.nn.Embedding(r, c, sparse=True) for r, c in shapes)

    def forward(self, x):  # x (B,) int64 ids -> (B, w)
        T = self.tables
        if self.kind == "full":
            return T[0](x)
        if self.kind == "hash":
            return T[0](self.rows[x])
        if self.kind == "dhash":
            E = T[0](self.rows[x])  # (B, k, w)
            if not self.learned:
                return E.sum(dim=1)
            return (T[1](self.wrow[x]).unsqueeze(2) * E).sum(dim=1)
        if self.kind == "robe":
            return T[0](self.idx[x]).squeeze(2) * self.sgn[x]
        if self.kind == "hotcold":  # each id reads its one row: no other row enters the sparse gradient
            r, h = self.row[x], self.is_hot[x]
            if len(T) == 1:
                return T[0](r)
            hi, ci = torch.nonzero(h).squeeze(1), torch.nonzero(~h).squeeze(1)
            out = torch.zeros(x.shape[0], self.w, dtype=T[0].weight.dtype)
            return out.index_copy(0, ci, T[0](r[ci])).index_copy(0, hi, T[1](r[hi]))
        if self.kind == "mde":
            blk, r = self.block[x], self.brow[x]
            out = torch.zeros(x.shape[0], self.w, dtype=T[0].weight.dtype)
            for i, d_i in enumerate(self.dims):
                sel = torch.nonzero(blk == i).squeeze(1)
                if sel.numel() == 0:
                    continue
                e = T[self.tE[i]](r[sel])
                if self.tP[i] is not None:  # the projection, read whole (every row in the sparse gradient)
                    e = e @ T[self.tP[i]](torch.arange(d_i))
                out = out.index_copy(0, sel, e)
            return out
        if self.kind == "tt":
            R, (w1, w2, w3), (n1, n2, n3) = self.R, self.wf, self.n
            g1 = T[0](torch.div(x, n2 * n3, rounding_mode="floor")).view(-1, w1, R)
            g2 = T[1](torch.remainder(torch.div(x, n3, rounding_mode="floor"), n2)).view(-1, R, w2, R)
            g3 = T[2](torch.remainder(x, n3)).view(-1, R, w3)
            return torch.einsum("bar,brcs,bsd->bacd", g1, g2, g3).reshape(x.shape[0], -1)[:, :self.w]
        if self.kind == "dhe":
            ids = x.numpy().astype(np.uint32)
            h = np.stack([xxh64_u32(ids, (self.seed_f + i) % (1 << 64)) % np.uint64(1000000)
                          for i in range(self.k + (self.k % 2 if self.dist == "gaussian" else 0))], 1)
            h = h.astype(np.float64)
            if self.dist == "uniform":
                enc = 2.0 * h / 999999.0 - 1.0
            else:  # Box-Muller on pairs
                u, v = (h[:, 0::2] + 1) / 1e6, h[:, 1::2] / 1e6
                r = np.sqrt(-2.0 * np.log(u))
                enc = np.stack([r * np.cos(2 * np.pi * v), r * np.sin(2 * np.pi * v)], 2).reshape(len(ids), -1)
                enc = enc[:, :self.k]
            a = torch.from_numpy(enc.astype(np.float32))
            for l, t in enumerate(T):
                W = t(torch.arange(t.num_embeddings))  # the layer read whole: (fan_in + 1, fan_out)
                a = a @ W[:-1] + W[-1]
                if l < len(T) - 1:
                    a = torch.nn.functional.mish(a)
            return a
        if self.kind == "qr3":
            A = T[0](torch.remainder(x, self.m))
            B = T[1](torch.remainder(torch.div(x, self.m, rounding_mode="floor"), self.m))
            C = T[2](torch.div(x, self.m * self.m, rounding_mode="floor"))
            return A * B * C if self.op == "mult" else A + B + C
        if self.kind == "qr":  # dlrm's QREmbeddingBag
            q, r = T[0](torch.div(x, self.m, rounding_mode="floor")), T[1](torch.remainder(x, self.m))
            return q * r if self.op == "mult" else q + r if self.op == "add" else torch.cat((q, r), 1)
        rows = self.rows[x]  # (B, n)
        if self.fuse == "concat":
            return torch.cat([T[j](rows[:, j]) for j in range(len(T))], 1)
        v = T[0](rows).sum(dim=1)
        return v / rows.shape[1] if self.fuse == "mean" else v


class Net(torch.nn.Module):
    """hashemb's backbones (src/model/model.h): DeepFM rows are d+1 wide, column 0 the first-order weight."""

    def __init__(self, kind, cards, dim, hidden, layouts=None, seed=1):
        super().__init__()
        self.kind, self.dim = kind, dim
        w = dim + 1 if kind == "deepfm" else dim
        if layouts is None:
            layouts = [{"f": f, "N": n, "kind": "full", "seed_f": int(xxh64_u32([f], seed)[0])}
                       for f, n in enumerate(cards)]
        self.embs = torch.nn.ModuleList(Field(L, w, seed) for L in layouts)
        for e in self.embs:
            for t in e.tables:
                torch.nn.init.normal_(t.weight, 0.0, 1e-4)
        layers, inp = [], len(cards) * dim
        for h in hidden:
            layers += [torch.nn.Linear(inp, h), torch.nn.ReLU()]
            inp = h
        layers.append(torch.nn.Linear(inp, 1))
        for m in layers:
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.xavier_uniform_(m.weight)
                torch.nn.init.zeros_(m.bias)
        self.mlp = torch.nn.Sequential(*layers)
        self.bias = torch.nn.Parameter(torch.zeros(1)) if kind == "deepfm" else None

    def forward(self, ids):  # ids (B, F) int64
        e = torch.stack([emb(ids[:, f]) for f, emb in enumerate(self.embs)], dim=1)  # (B, F, w)
        if self.kind != "deepfm":
            return self.mlp(e.reshape(e.shape[0], -1)).squeeze(1)
        first = e[:, :, 0].sum(dim=1)
        v = e[:, :, 1:]  # (B, F, d)
        s = v.sum(dim=1)
        fm = 0.5 * (s * s - (v * v).sum(dim=1)).sum(dim=1)
        deep = self.mlp(v.reshape(v.shape[0], -1)).squeeze(1)
        return self.bias + first + fm + deep

    def dense_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith("embs.")]

    def load_init(self, d, tables, nparams):
        """hashemb's initial values: each table from its file, the dense parameters from dense.f32
        (DeepFM's bias, then per layer W (out, in) row-major and b: nn.Linear's own layout)."""
        with torch.no_grad():
            for f, e in enumerate(self.embs):
                got = [(r, c) for r, c, _ in tables.get(f, [])]
                if got != e.shapes:
                    sys.exit(f"peer_torch: field {f}: hashemb's tables {got}, the peer's {e.shapes}")
                for t, (r, c, name) in zip(e.tables, tables[f]):
                    t.weight.copy_(torch.from_numpy(np.fromfile(os.path.join(d, name), dtype="<f4")
                                                    .reshape(r, c)))
            flat = np.fromfile(os.path.join(d, "dense.f32"), dtype="<f4")
            params = ([self.bias] if self.bias is not None else []) + [
                p for m in self.mlp if isinstance(m, torch.nn.Linear) for p in (m.weight, m.bias)]
            if flat.size != nparams or sum(p.numel() for p in params) != nparams:
                sys.exit(f"peer_torch: dense.f32 holds {flat.size} values, init.tsv says {nparams}, the "
                         f"peer's backbone has {sum(p.numel() for p in params)}")
            off = 0
            for p in params:
                p.copy_(torch.from_numpy(flat[off:off + p.numel()].reshape(p.shape)))
                off += p.numel()


class LazyAdamHashemb(torch.optim.Optimizer):
    """hashemb's lazy Adam (src/model/optim.c), for --sparse-adam hashemb: SparseAdam's update of the rows a
    batch reads, with eps added to sqrt(v / (1 - beta2^k)) (torch.optim.Adam's form) instead of sqrt(v).
    A diagnostic: it shows how much of a difference from hashemb is that placement."""

    def __init__(self, params, lr, betas, eps):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            b1, b2 = g["betas"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"], st["m"], st["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                st["step"] += 1
                grad = p.grad.coalesce()
                i, gv = grad.indices()[0], grad.values()
                m = st["m"][i].mul_(b1).add_(gv, alpha=1 - b1)
                v = st["v"][i].mul_(b2).addcmul_(gv, gv, value=1 - b2)
                st["m"][i], st["v"][i] = m, v
                bc1, bc2 = 1 - b1 ** st["step"], 1 - b2 ** st["step"]
                p[i] -= g["lr"] * (m / bc1) / ((v / bc2).sqrt() + g["eps"])


def predict(net, ids, batch):
    out = np.empty(ids.shape[0], dtype=np.float32)
    with torch.no_grad():
        for b0 in range(0, ids.shape[0], batch):
            x = torch.from_numpy(ids[b0:b0 + batch].astype(np.int64))
            out[b0:b0 + batch] = net(x).numpy()
    return out


def main():
    ap = argparse.ArgumentParser(description="PyTorch peer of hashemb train (full embedding table)")
    ap.add_argument("--data", required=True, help="prepared dataset directory (hashemb gen / prep)")
    ap.add_argument("--model", choices=["deepfm", "mlp"], default="deepfm")
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--mlp", default="400,400,400")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--patience", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--max-steps", type=int, default=0, help="stop each epoch after this many steps (0: all)")
    ap.add_argument("--no-header", action="store_true", help="print the row only")
    ap.add_argument("--sparse-adam", choices=["torch", "hashemb"], default="torch",
                    help="the tables' optimizer: torch.optim.SparseAdam (default), or its update with "
                    "eps placed as hashemb places it (a diagnostic)")
    ap.add_argument("--init", metavar="DIR", help="start from what `hashemb train --dump-init DIR` wrote: "
                    "its strategy, layout, initial values and epoch orders (--model, --dim, --mlp, "
                    "--batch, --lr and --seed are then taken from it)")
    a = ap.parse_args()
    init = None
    if a.init:
        keys, layouts, tables = read_init(a.init)
        if keys["optim"] != ["adam"] or float(keys["emb_l2"][0]) != 0:
            sys.exit(f"peer_torch: {a.init}: optim {keys['optim'][0]}, emb_l2 {keys['emb_l2'][0]}: the "
                     "peer runs adam without L2")
        a.model, a.dim, a.mlp = keys["model"][0], int(keys["dim"][0]), keys["hidden"][0]
        a.batch, a.lr, a.seed = int(keys["batch"][0]), float(keys["lr"][0]), int(keys["seed"][0])
        orders = keys.get("orders", [])
        if a.epochs > len(orders):
            sys.exit(f"peer_torch: --epochs {a.epochs}: {a.init} holds the orders of {len(orders)} epoch(s)")
        init = (keys, layouts, tables, orders)
    if a.dim < 1 or a.batch < 1 or a.epochs < 1 or a.threads < 1 or a.patience < 1:
        ap.error("--dim, --batch, --epochs, --patience and --threads must be >= 1")
    try:
        hidden = [int(h) for h in a.mlp.split(",")] if a.mlp not in ("", "none") else []
    except ValueError:
        ap.error(f"--mlp: '{a.mlp}' is not a comma-separated list of sizes")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    meta = read_meta(a.data)
    fields = int(meta["fields"])
    cards = [int(c) for c in meta["cardinalities"].split(",")]
    splits = {s: read_split(os.path.join(a.data, s + ".bin"), fields) for s in ("train", "valid", "test")}
    core, par = openblas_core()
    print(f"# peer_torch: torch {torch.__version__}, threads {a.threads}, OpenBLAS core {core} "
          f"({CORE_SOURCE}), parallel={par}; {a.model} d={a.dim} mlp={a.mlp} batch {a.batch}; "
          f"train {splits['train'][0].shape[0]} rows", file=sys.stderr)

    if init:
        keys, layouts, tables, orders = init
        if [L["N"] for L in layouts] != cards:
            sys.exit(f"peer_torch: {a.init} was made for other cardinalities than {a.data}'s")
        if "dataset_source" in keys and keys["dataset_source"][0] != meta.get("source", ""):
            sys.exit(f"peer_torch: {a.init} was made from data by '{keys['dataset_source'][0]}', {a.data} is "
                     f"'{meta.get('source', '')}'")
        nvec = check_hash_vectors()
        kinds = sorted({L["kind"] for L in layouts})
        print(f"# peer_torch: init from {a.init} ({keys['variant'][0]}; fields {', '.join(kinds)}); XXH64 "
              f"checked on {nvec} known answers", file=sys.stderr)
        for L in layouts:  # hotcold's hot ids and mde's ranks come from the train split's counts, counted here
            if L["kind"] in ("hotcold", "mde"):
                L["counts"] = np.bincount(splits["train"][1][:, L["f"]].astype(np.int64), minlength=L["N"])
        net = Net(a.model, cards, a.dim, hidden, layouts, a.seed)
        net.load_init(a.init, tables, int(keys["dense"][1]))
    else:
        net = Net(a.model, cards, a.dim, hidden, None, a.seed)
    dense = torch.optim.Adam(net.dense_parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    sparse = (torch.optim.SparseAdam if a.sparse_adam == "torch" else LazyAdamHashemb)(
        list(net.embs.parameters()), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    lossf = torch.nn.BCEWithLogitsLoss()

    ytr, xtr = splits["train"]
    ntrain = ytr.shape[0]
    rng = np.random.default_rng(a.seed)
    train_seconds, samples = 0.0, 0
    best = None  # (valid_auc, valid_logloss, test_auc, test_logloss, epoch)
    since_best, epochs_run = 0, 0
    for epoch in range(1, a.epochs + 1):
        if init:  # hashemb's block-shuffled order of this epoch
            perm = np.fromfile(os.path.join(a.init, init[3][epoch - 1]), dtype="<u4").astype(np.int64)
            if perm.size != ntrain:
                sys.exit(f"peer_torch: {init[3][epoch - 1]}: {perm.size} rows, train has {ntrain}")
        else:
            perm = rng.permutation(ntrain)
        net.train()
        loss_sum, steps, epoch_samples = 0.0, 0, 0
        t_epoch = 0.0
        for b0 in range(0, ntrain, a.batch):
            if a.max_steps and steps >= a.max_steps:
                break
            rows = perm[b0:b0 + a.batch]
            if not init:
                rows = np.sort(rows)  # reads the map forward; the order within a batch is irrelevant
            t0 = time.perf_counter()
            x = torch.from_numpy(xtr[rows].astype(np.int64))
            y = torch.from_numpy(ytr[rows].astype(np.float32))
            dense.zero_grad(set_to_none=True)
            sparse.zero_grad(set_to_none=True)
            loss = lossf(net(x), y)
            loss.backward()
            dense.step()
            sparse.step()
            t_epoch += time.perf_counter() - t0
            samples += rows.shape[0]
            epoch_samples += rows.shape[0]
            loss_sum += float(loss) * rows.shape[0]
            steps += 1
            if not np.isfinite(float(loss)):
                sys.exit(f"peer_torch: loss {float(loss)} at epoch {epoch}: diverged")
        train_seconds += t_epoch
        epochs_run = epoch
        net.eval()
        yv, xv = splits["valid"]
        yt, xt = splits["test"]
        zv, zt = predict(net, xv, a.batch), predict(net, xt, a.batch)
        va, vl = auc_exact(zv, yv), logloss_logit(zv, yv)
        ta, tl = auc_exact(zt, yt), logloss_logit(zt, yt)
        print(f"  epoch {epoch}: train loss {loss_sum / max(1, epoch_samples):.5f}, valid AUC "
              f"{va:.5f} logloss {vl:.5f}, test AUC {ta:.5f}, {epoch_samples / t_epoch:.0f} samples/s",
              file=sys.stderr)
        if best is None or va > best[0]:
            best = (va, vl, ta, tl, epoch)
            since_best = 0
        else:
            since_best += 1
            if since_best >= a.patience:
                print(f"  early stop: {since_best} epoch(s) without a better valid AUC", file=sys.stderr)
                break

    cols = ["model", "seed", "epochs", "best_epoch", "valid_auc", "valid_logloss", "test_auc",
            "test_logloss", "train_seconds", "samples_per_sec", "threads", "blas_core", "torch", "variant"]
    vals = [a.model, a.seed, epochs_run, best[4], f"{best[0]:.6f}", f"{best[1]:.6f}", f"{best[2]:.6f}",
            f"{best[3]:.6f}", f"{train_seconds:.3f}", f"{samples / train_seconds:.1f}", a.threads, core,
            torch.__version__, init[0]["variant"][0] if init else "full"]
    if not a.no_header:
        print("\t".join(cols))
    print("\t".join(str(v) for v in vals))


if __name__ == "__main__":
    main()
