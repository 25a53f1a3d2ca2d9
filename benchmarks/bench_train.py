"""Training: whole training runs of the same MLP on the same data by nnmat, PyTorch and scikit-learn.

Cases (float32 everywhere, cross-entropy, Adam lr 1e-3 with betas (0.9, 0.999), eps 1e-8, no
weight decay, the training rows reshuffled every epoch):

* ``digits``: MLP 64-128-64-10 (ReLU) on scikit-learn's digits (X/16; a stratified split with
  450 test samples, random_state=0: 1347 training rows), batch 32, 30 epochs (quick: 5);
  the test accuracy of each peer is reported. Without scikit-learn: a generated 10-class data
  set of the same sizes (said in the table's title).
* ``mlp784``: MLP 784-512-256-10 (ReLU) on synthetic data (float32 uniform in [0, 1), 10
  random labels, seeded), 60000 rows (quick: 10000), batch 128, ONE epoch. GFLOP/s counts
  the model's matrix products as 6·N·(784·512 + 512·256 + 256·10) = 6·N·535040 FLOP per
  epoch (2 per multiply-add forward, 4 backward), 192.6 GFLOP for N = 60000; no peer computes
  the input gradient of the first layer, so the products actually performed are
  N·(6·535040 − 2·784·512) = 144.4 GFLOP (75 % of the count used).

Peers:
* ``nnmat``: ``Sequential.fit(x, y, loss='cross_entropy', optimizer=nn.optim.Adam(lr=1e-3),
  epochs, batch_size, shuffle=True, verbose=0)``;
* ``torch``: a plain loop: ``torch.randperm`` per epoch, then per batch ``zero_grad``,
  ``F.cross_entropy``, ``backward``, ``torch.optim.Adam.step`` (default foreach); it starts
  from the same initial weights as nnmat;
* ``sklearn``: ``MLPClassifier(hidden_layer_sizes, batch_size, learning_rate_init=1e-3,
  max_iter=epochs, alpha=0, tol=0, n_iter_no_change=max_iter+1, random_state=0)`` on float32
  inputs (its own Glorot initialisation; ConvergenceWarning silenced).

Each (case, threads) is verified first: one untimed run per peer (which also warms up) whose
accuracy / loss must be sane (digits: test accuracy >= 0.9, quick >= 0.8; mlp784: final
loss finite and < 2.6, random labels giving ~ln 10 = 2.303), and, with torch installed,
nnmat and torch trained from the same weights on the same 3 batches must give the same
losses and logits (relative 1e-4). Then every peer runs ``repeats`` timed trainings,
interleaved (the order rotates each round); the table gives the median time of a whole
training (building the model is outside the timed region) and ``peer/nnmat`` ratios (> 1:
nnmat is faster). Threads: ``nnmat.threads(n)``, ``torch.set_num_threads(n)``,
``threadpoolctl.threadpool_limits(n)`` around scikit-learn (whose products run in numpy's
BLAS); the threads column of the JSON records what each library reported inside its limit.
"""
from __future__ import annotations

import contextlib
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from common import FamilyResult, Options, fmt_num, md_table, settle

NAME = "train"
LR = 1e-3
FLOP_PER_ROW = 6 * (784 * 512 + 512 * 256 + 256 * 10)


def _progress(msg: str) -> None:
    print(f"[{NAME}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def digits_data() -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        rng = np.random.default_rng(0)
        centers = rng.normal(0, 1, (10, 64))
        y = rng.integers(0, 10, 1797)
        x = (centers[y] + rng.normal(0, 1.2, (1797, 64))).astype(np.float32)
        return x[:1347], y[:1347], x[1347:], y[1347:], "generated 10-class clusters (no scikit-learn)"
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=450, stratify=d.target, random_state=0)
    return xtr, ytr.astype(np.int64), xte, yte.astype(np.int64), "scikit-learn digits"


def synthetic_data(n: int) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(784)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


# --------------------------------------------------------------------------- peers


def nnmat_model(sizes: List[int], seed: int):
    from nnmat import nn

    layers = [nn.Dense(a, b, activation="relu" if i < len(sizes) - 2 else None)
              for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    return nn.Sequential(layers, seed=seed)


def torch_model_from(model):
    """A torch MLP holding a copy of the nnmat model's weights."""
    import torch

    mods: List[Any] = []
    dense = [l for l in model.layers]
    for i, layer in enumerate(dense):
        lin = torch.nn.Linear(layer.in_features, layer.out_features)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(layer.weight)))
            lin.bias.copy_(torch.from_numpy(np.array(layer.bias)))
        mods.append(lin)
        if i < len(dense) - 1:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


class Peer:
    """A way of training: ``prepare()`` (untimed) returns a state, ``train(state)`` (timed)
    trains it and returns ``(model, final training loss)``, ``accuracy(model, x, y)``."""

    name = ""

    def __init__(self, sizes: List[int], x: np.ndarray, y: np.ndarray, epochs: int, batch: int) -> None:
        self.sizes, self.x, self.y, self.epochs, self.batch = sizes, x, y, epochs, batch
        self.runs = 0

    def limit(self, n: int):
        raise NotImplementedError

    def threads_used(self) -> Any:
        raise NotImplementedError


class NnmatPeer(Peer):
    name = "nnmat"

    def limit(self, n: int):
        import nnmat

        return nnmat.threads(n)

    def threads_used(self) -> Any:
        import nnmat

        return nnmat.get_num_threads()

    def prepare(self):
        self.runs += 1
        return nnmat_model(self.sizes, seed=self.runs)

    def train(self, model):
        from nnmat import nn

        h = model.fit(self.x, self.y, loss="cross_entropy", optimizer=nn.optim.Adam(lr=LR), epochs=self.epochs,
                      batch_size=self.batch, shuffle=True, seed=self.runs, verbose=0)
        return model, h.history["loss"][-1]

    @staticmethod
    def accuracy(model, x, y) -> float:
        return float(np.mean(model.predict(x).argmax(1) == y))


class TorchPeer(Peer):
    name = "torch"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        import torch

        self.xt, self.yt = torch.from_numpy(self.x), torch.from_numpy(self.y)

    @contextlib.contextmanager
    def limit(self, n: int):
        import torch

        prev = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(prev)

    def threads_used(self) -> Any:
        import torch

        return torch.get_num_threads()

    def prepare(self):
        import torch

        self.runs += 1
        model = torch_model_from(nnmat_model(self.sizes, seed=self.runs))
        gen = torch.Generator().manual_seed(self.runs)
        return model, torch.optim.Adam(model.parameters(), lr=LR), gen

    def train(self, state):
        import torch
        import torch.nn.functional as F

        model, opt, gen = state
        n, bs = self.xt.shape[0], self.batch
        loss_sum = 0.0
        for _ in range(self.epochs):
            perm = torch.randperm(n, generator=gen)
            loss_sum = 0.0
            for s in range(0, n, bs):
                idx = perm[s:s + bs]
                opt.zero_grad()
                loss = F.cross_entropy(model(self.xt[idx]), self.yt[idx])
                loss.backward()
                opt.step()
                loss_sum += loss.item() * idx.shape[0]
        return model, loss_sum / n

    @staticmethod
    def accuracy(model, x, y) -> float:
        import torch

        with torch.no_grad():
            return float(np.mean(model(torch.from_numpy(x)).argmax(1).numpy() == y))


class SklearnPeer(Peer):
    name = "sklearn"

    def limit(self, n: int):
        import threadpoolctl

        return threadpoolctl.threadpool_limits(limits=n)

    def threads_used(self) -> Any:
        import threadpoolctl

        return sorted({i["num_threads"] for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"})

    def prepare(self):
        from sklearn.neural_network import MLPClassifier

        self.runs += 1
        return MLPClassifier(hidden_layer_sizes=tuple(self.sizes[1:-1]), activation="relu", solver="adam",
                             alpha=0.0, batch_size=self.batch, learning_rate_init=LR, max_iter=self.epochs,
                             shuffle=True, tol=0.0, n_iter_no_change=self.epochs + 1, random_state=self.runs)

    def train(self, clf):
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(self.x, self.y)
        return clf, float(clf.loss_)

    @staticmethod
    def accuracy(clf, x, y) -> float:
        return float(np.mean(clf.predict(x) == y))


def make_peers(sizes, x, y, epochs, batch) -> Tuple[List[Peer], Dict[str, str]]:
    peers: List[Peer] = [NnmatPeer(sizes, x, y, epochs, batch)]
    missing: Dict[str, str] = {}
    try:
        import torch  # noqa: F401

        peers.append(TorchPeer(sizes, x, y, epochs, batch))
    except ImportError as exc:
        missing["torch"] = f"not installed ({exc})"
    try:
        import sklearn.neural_network  # noqa: F401
        import threadpoolctl  # noqa: F401

        peers.append(SklearnPeer(sizes, x, y, epochs, batch))
    except ImportError as exc:
        missing["sklearn"] = f"not installed ({exc})"
    return peers, missing


# --------------------------------------------------------------------------- verification


def same_steps_check(sizes: List[int], x: np.ndarray, y: np.ndarray, batch: int) -> Optional[Dict[str, Any]]:
    """nnmat and torch from the same weights, 3 Adam steps on the same batches: the losses and
    the final logits must agree (relative 1e-4). None without torch."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    from nnmat import nn

    model = nnmat_model(sizes, seed=12345)
    tm = torch_model_from(model)
    topt = torch.optim.Adam(tm.parameters(), lr=LR)
    nopt = nn.optim.Adam(lr=LR)
    ln, lt = [], []
    for b in range(3):
        xb, yb = x[b * batch:(b + 1) * batch], y[b * batch:(b + 1) * batch]
        ln.append(model.train_on_batch(xb, yb, loss="cross_entropy", optimizer=nopt))
        topt.zero_grad()
        loss = F.cross_entropy(tm(torch.from_numpy(xb)), torch.from_numpy(yb))
        loss.backward()
        topt.step()
        lt.append(loss.item())
    xv = x[:256]
    out_n = model.predict(xv).astype(np.float64)
    with torch.no_grad():
        out_t = tm(torch.from_numpy(xv)).numpy().astype(np.float64)
    loss_err = max(abs(a - b) / abs(b) for a, b in zip(ln, lt))
    logit_err = float(np.max(np.abs(out_n - out_t)) / max(np.max(np.abs(out_t)), 1e-30))
    return {"ok": bool(loss_err < 1e-4 and logit_err < 1e-4), "losses_nnmat": ln, "losses_torch": lt,
            "max_rel_loss_err": loss_err, "max_rel_logit_err": logit_err}


# --------------------------------------------------------------------------- measurement


def measure_case(case: str, peers: List[Peer], threads: int, repeats: int, check: Callable[[Dict[str, Any]], bool],
                 xte: Optional[np.ndarray], yte: Optional[np.ndarray], wait_idle: bool,
                 flop: Optional[float]) -> List[Dict[str, Any]]:
    recs: Dict[str, Dict[str, Any]] = {}
    live: List[Peer] = []
    for p in peers:
        rec: Dict[str, Any] = {"case": case, "threads": threads, "peer": p.name, "dtype": "float32"}
        recs[p.name] = rec
        try:
            with p.limit(threads):
                rec["threads_used"] = p.threads_used()
                state = p.prepare()
                t0 = time.perf_counter()
                model, loss = p.train(state)
                rec["first_run_s"] = time.perf_counter() - t0
            rec["loss"] = float(loss)
            rec["train_accuracy"] = p.accuracy(model, p.x, p.y)
            if xte is not None:
                rec["test_accuracy"] = p.accuracy(model, xte, yte)
            if hasattr(model, "coefs_"):
                rec["sklearn_dtype"] = str(model.coefs_[0].dtype)
            del model, state
            rec["status"] = "ok" if check(rec) else "WRONG"
        except Exception as exc:  # noqa: BLE001 - a failing peer is reported, not fatal
            rec["status"] = f"error: {type(exc).__name__}: {exc}"
        if rec["status"] == "ok":
            live.append(p)
            rec["samples_s"] = []
            rec["test_accuracies"] = [rec["test_accuracy"]] if "test_accuracy" in rec else []
        _progress(f"{case} {threads} thr {p.name}: verification run {rec.get('first_run_s', float('nan')):.2f} s, "
                  f"status {rec['status']}")
    for r in range(repeats):
        order = [live[(i + r) % len(live)] for i in range(len(live))] if live else []
        for p in order if r % 2 == 0 else order[::-1]:
            with p.limit(threads):
                state = p.prepare()
                if wait_idle:
                    settle()
                t0 = time.perf_counter()
                model, _ = p.train(state)
                recs[p.name]["samples_s"].append(time.perf_counter() - t0)
                if xte is not None:   # every run has its own seed: accuracy over all of them
                    recs[p.name]["test_accuracies"].append(p.accuracy(model, xte, yte))
                del model
            del state
    for p in live:
        rec = recs[p.name]
        rec["median_s"] = float(np.median(rec["samples_s"]))
        rec["min_s"] = float(np.min(rec["samples_s"]))
        if rec["test_accuracies"]:
            rec["test_accuracy_median"] = float(np.median(rec["test_accuracies"]))
        if flop is not None:
            rec["flop"] = flop
            rec["gflops"] = flop / rec["median_s"] / 1e9
    return list(recs.values())


def _cell_s(rec: Optional[Dict[str, Any]], ms: bool) -> str:
    if rec is None:
        return "n/a"
    if rec.get("status") == "ok":
        cell = fmt_num(rec["median_s"] * 1e3, 1) if ms else fmt_num(rec["median_s"], 3)
        return cell + ("*" if _noisy(rec) else "")
    return rec.get("status", "-")[:12]


def _acc_cell(rec: Optional[Dict[str, Any]]) -> str:
    if rec is None or not rec.get("test_accuracies"):
        return fmt_num(rec.get("test_accuracy"), 4) if rec else "-"
    a = rec["test_accuracies"]
    return f"{np.median(a):.4f} ({min(a):.3f}-{max(a):.3f})"


def _noisy(rec: Dict[str, Any]) -> bool:
    """Samples spread over more than 2x: the machine was busy (on a loaded 2-core machine,
    spinning OpenMP barriers can make single runs 20x slower)."""
    return max(rec["samples_s"]) > 2 * min(rec["samples_s"])


def _ratio(rec: Optional[Dict[str, Any]], nn: Optional[Dict[str, Any]]) -> str:
    if rec is None or nn is None or rec.get("status") != "ok" or nn.get("status") != "ok":
        return "-"
    return fmt_num(rec["median_s"] / nn["median_s"], 2) + "x"


def table(records: List[Dict[str, Any]], case: str, names: List[str], metric: str) -> str:
    recs = [r for r in records if r["case"] == case]
    ms = metric != "gflops"
    header = ["threads"] + [f"{n} {'ms' if ms else 's'}" for n in names]
    if metric == "gflops":
        header += [f"{n} GFLOP/s" for n in names] + [f"{n} loss" for n in names]
    else:
        header += [f"{n} test acc" for n in names]   # median (min-max) over all runs' seeds
    header += [f"{n}/nnmat" for n in names[1:]]
    rows = []
    for t in dict.fromkeys(r["threads"] for r in recs):
        by = {r["peer"]: r for r in recs if r["threads"] == t}
        row = [str(t)] + [_cell_s(by.get(n), ms) for n in names]
        if metric == "gflops":
            row += [fmt_num(by[n].get("gflops"), 1) if n in by else "-" for n in names]
            row += [fmt_num(by[n].get("loss"), 4) if n in by else "-" for n in names]
        else:
            row += [_acc_cell(by.get(n)) for n in names]
        row += [_ratio(by.get(n), by.get("nnmat")) for n in names[1:]]
        rows.append(row)
    text = md_table(header, rows)
    if any(r.get("status") == "ok" and _noisy(r) for r in recs):
        text += ("\n\n\\* the timed runs of this peer spread over more than 2x (min "
                 + ", ".join(f"{r['peer']} {r['threads']} thr {min(r['samples_s']):.3g} s, max "
                             f"{max(r['samples_s']):.3g} s" for r in recs if r.get("status") == "ok" and _noisy(r))
                 + "): the machine was busy; the median is kept, the JSON has every sample.")
    return text


def run(opts: Options, env: Dict[str, Any]) -> FamilyResult:
    repeats = min(opts.repeats, 3) if opts.quick else min(opts.repeats, 5)
    records: List[Dict[str, Any]] = []
    extra: Dict[str, Any] = {"repeats": repeats}
    parts = [__doc__.split("\n\n", 1)[1].strip()]
    missing_all: Dict[str, str] = {}

    if opts.wants("digits"):
        xtr, ytr, xte, yte, source = digits_data()
        epochs = 5 if opts.quick else 30
        sizes = [64, 128, 64, 10]
        peers, missing = make_peers(sizes, xtr, ytr, epochs, 32)
        missing_all.update(missing)
        chk = same_steps_check(sizes, xtr, ytr, 32)
        extra["digits_same_steps_check"] = chk
        min_acc = 0.8 if opts.quick else 0.9
        ok_steps = chk is None or chk["ok"]
        for t in opts.threads:
            records += measure_case("digits", peers, t, repeats,
                                    lambda r: ok_steps and r["test_accuracy"] >= min_acc and np.isfinite(r["loss"]),
                                    xte, yte, opts.wait_idle, None)
        names = [p.name for p in peers]
        title = (f"### digits: MLP 64-128-64-10, {source}, {len(xtr)} training / {len(xte)} test rows, "
                 f"batch 32, {epochs} epochs")
        note = ("" if chk is None else
                f"Same-steps check nnmat vs torch (3 Adam steps from the same weights): max relative loss "
                f"difference {chk['max_rel_loss_err']:.1e}, logits {chk['max_rel_logit_err']:.1e} "
                f"({'ok' if chk['ok'] else 'FAILED: every row is WRONG'}).")
        parts.append(f"{title}\n\nMedian milliseconds of a whole training ({repeats} timed runs after one verification "
                     f"run per peer). Test accuracy: median (min-max) over all {repeats + 1} runs, each with its own seed "
                     f"(initial weights and shuffling). {note}\n\n" + table(records, "digits", names, "accuracy"))

    if opts.wants("mlp784"):
        n = 10000 if opts.quick else 60000
        x, y = synthetic_data(n)
        sizes = [784, 512, 256, 10]
        peers, missing = make_peers(sizes, x, y, 1, 128)
        missing_all.update(missing)
        chk = same_steps_check(sizes, x, y, 128)
        extra["mlp784_same_steps_check"] = chk
        ok_steps = chk is None or chk["ok"]
        flop = float(FLOP_PER_ROW * n)
        for t in opts.threads:
            records += measure_case("mlp784", peers, t, repeats,
                                    lambda r: ok_steps and np.isfinite(r["loss"]) and r["loss"] < 2.6,
                                    None, None, opts.wait_idle, flop)
        names = [p.name for p in peers]
        note = ("" if chk is None else
                f"Same-steps check nnmat vs torch: max relative loss difference {chk['max_rel_loss_err']:.1e}, "
                f"logits {chk['max_rel_logit_err']:.1e} ({'ok' if chk['ok'] else 'FAILED: every row is WRONG'}).")
        parts.append(f"### mlp784: MLP 784-512-256-10, {n} x 784 synthetic rows (random labels), batch 128, "
                     f"1 epoch, {flop / 1e9:.1f} GFLOP (6·N·535040)\n\nMedian seconds of the epoch; loss: the "
                     f"epoch's mean training loss (ln 10 = 2.303 is chance). {note}\n\n"
                     + table(records, "mlp784", names, "gflops"))

    for name, why in missing_all.items():
        parts.append(f"{name}: {why}; skipped.")
    thr = {f"{r['case']} {r['threads']} {r['peer']}": r.get("threads_used") for r in records}
    parts.append("Threads reported inside each limit: " + ", ".join(f"{k}: {v}" for k, v in thr.items()) + ".")
    return FamilyResult(markdown="\n\n".join(parts) + "\n", records=records, extra=extra)
