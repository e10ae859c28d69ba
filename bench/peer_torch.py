#!/usr/bin/python3
"""peer_torch: the PyTorch peer of `hashemb train` with a full embedding table (SPEC 5, 8).

DeepFM or MLP of exactly hashemb's shape, trained on the same prepared dataset directory (SPEC 3.1,
read with numpy.memmap), with the same hyper-parameters: Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8) on the
dense parameters, torch.optim.SparseAdam (the lazy form) on one nn.Embedding(sparse=True) per field,
batch 4096, embeddings N(0, 1e-4 std), Xavier-uniform Linear weights, zero biases. Each epoch: one pass
over train in a seeded permutation (not hashemb's block shuffle), then exact valid and test AUC
(midranks) and logloss; best epoch by valid AUC, --patience as in hashemb. samples_per_sec counts the
training steps only (hashemb's train_seconds: evaluation excluded).

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


class Net(torch.nn.Module):
    """hashemb's backbones (src/model.h): DeepFM rows are d+1 wide, column 0 the first-order weight."""

    def __init__(self, kind, cards, dim, hidden):
        super().__init__()
        self.kind, self.dim = kind, dim
        w = dim + 1 if kind == "deepfm" else dim
        self.embs = torch.nn.ModuleList(torch.nn.Embedding(n, w, sparse=True) for n in cards)
        for e in self.embs:
            torch.nn.init.normal_(e.weight, 0.0, 1e-4)
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
    a = ap.parse_args()
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

    net = Net(a.model, cards, a.dim, hidden)
    dense = torch.optim.Adam(net.dense_parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    sparse = torch.optim.SparseAdam(list(net.embs.parameters()), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    lossf = torch.nn.BCEWithLogitsLoss()

    ytr, xtr = splits["train"]
    ntrain = ytr.shape[0]
    rng = np.random.default_rng(a.seed)
    train_seconds, samples = 0.0, 0
    best = None  # (valid_auc, valid_logloss, test_auc, test_logloss, epoch)
    since_best, epochs_run = 0, 0
    for epoch in range(1, a.epochs + 1):
        perm = rng.permutation(ntrain)
        net.train()
        loss_sum, steps, epoch_samples = 0.0, 0, 0
        t_epoch = 0.0
        for b0 in range(0, ntrain, a.batch):
            if a.max_steps and steps >= a.max_steps:
                break
            rows = np.sort(perm[b0:b0 + a.batch])  # sorted: reads the map forward; order within a batch is irrelevant
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
            "test_logloss", "train_seconds", "samples_per_sec", "threads", "blas_core", "torch"]
    vals = [a.model, a.seed, epochs_run, best[4], f"{best[0]:.6f}", f"{best[1]:.6f}", f"{best[2]:.6f}",
            f"{best[3]:.6f}", f"{train_seconds:.3f}", f"{samples / train_seconds:.1f}", a.threads, core,
            torch.__version__]
    if not a.no_header:
        print("\t".join(cols))
    print("\t".join(str(v) for v in vals))


if __name__ == "__main__":
    main()
