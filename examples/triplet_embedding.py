"""Metric learning: train an embedding network with the triplet margin loss in a custom loop.

Shows the lower-level API used when a loss does not fit ``fit``'s
(prediction, target) pattern:

* anchor, positive (same class) and negative (another class) batches go
  through the model as ONE concatenated batch:
  ``out = model.forward(np.concatenate([a, p, n]), training=True)``;
* the output is split in three and
  ``nnmat.losses.triplet_margin_loss.value_and_grad(a_out, p_out, n_out)``
  returns the loss and the gradients for the three inputs;
* the three gradients are concatenated in the same order and
  ``model.backward(g)`` fills the parameter gradients;
* ``opt.step()`` with ``opt = nn.optim.Adam(model, lr=...)`` updates them.

Reported before/after training on held-out samples: triplet accuracy (the
fraction of random triplets with d(a, p) < d(a, n)) and 1-nearest-neighbour
classification accuracy in the 16-dimensional embedding space.

Data: scikit-learn's digits (X/16) when installed, otherwise generated
10-class clusters in 64 dimensions (said at start-up).

    PYTHONPATH=src python3 examples/triplet_embedding.py
"""
import time

import numpy as np

import nnmat
from nnmat import nn


def load_data():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        rng = np.random.default_rng(0)
        centers = rng.normal(0, 1, (10, 64))
        y = rng.integers(0, 10, 1797)
        x = (0.5 * centers[y] + rng.normal(0, 1.5, (1797, 64))).astype(np.float32)
        name = "generated 10-class clusters (scikit-learn is not installed)"
    else:
        d = load_digits()
        x, y = (d.data / 16.0).astype(np.float32), d.target
        name = "scikit-learn digits (X/16)"
    perm = np.random.default_rng(1).permutation(len(x))
    x, y = x[perm], y[perm]
    return x[:1300], y[:1300], x[1300:], y[1300:], name


def sample_triplets(y, n, rng):
    """Indices (a, p, n): y[a] == y[p], a != p, y[n] != y[a]."""
    by_class = [np.flatnonzero(y == c) for c in range(10)]
    a = rng.integers(0, len(y), n)
    p = np.empty(n, np.int64)
    neg = np.empty(n, np.int64)
    for i, ai in enumerate(a):
        same = by_class[y[ai]]
        p[i] = same[rng.integers(0, len(same))]
        while p[i] == ai:
            p[i] = same[rng.integers(0, len(same))]
        neg[i] = rng.integers(0, len(y))
        while y[neg[i]] == y[ai]:
            neg[i] = rng.integers(0, len(y))
    return a, p, neg


def triplet_accuracy(model, x, trip):
    e = model.predict(x)
    a, p, n = (e[t] for t in trip)
    return float(np.mean(np.linalg.norm(a - p, axis=1) < np.linalg.norm(a - n, axis=1)))


def nn_accuracy(model, xtr, ytr, xte, yte):
    etr, ete = model.predict(xtr), model.predict(xte)
    d = (ete ** 2).sum(1)[:, None] - 2 * ete @ etr.T + (etr ** 2).sum(1)[None, :]
    return float(np.mean(ytr[d.argmin(1)] == yte))


def main():
    xtr, ytr, xte, yte, name = load_data()
    print(f"data: {name}: {len(xtr)} training, {len(xte)} held-out samples")
    rng = np.random.default_rng(0)
    test_trip = sample_triplets(yte, 2000, rng)

    model = nn.Sequential([nn.Dense(64, 64, activation="relu"), nn.Dense(64, 16)], seed=0)
    opt = nn.optim.Adam(model, lr=1e-3)
    print(f"before training: triplet accuracy {triplet_accuracy(model, xte, test_trip):.3f}, "
          f"1-NN accuracy {nn_accuracy(model, xtr, ytr, xte, yte):.3f}")

    batch, steps = 64, 600
    t0 = time.perf_counter()
    running = []
    for step in range(steps):
        ia, ip, ineg = sample_triplets(ytr, batch, rng)
        out = model.forward(np.concatenate([xtr[ia], xtr[ip], xtr[ineg]]), training=True)
        a_out, p_out, n_out = out[:batch], out[batch:2 * batch], out[2 * batch:]
        loss, (ga, gp, gn) = nnmat.losses.triplet_margin_loss.value_and_grad(a_out, p_out, n_out, margin=1.0)
        model.backward(np.concatenate([ga, gp, gn]))
        opt.step()
        running.append(loss)
        if (step + 1) % 150 == 0:
            print(f"  step {step + 1:3d}: mean triplet loss of the last 150 batches {np.mean(running):.4f}")
            running = []
    print(f"trained {steps} steps of {batch} triplets in {time.perf_counter() - t0:.2f} s")
    print(f"after training:  triplet accuracy {triplet_accuracy(model, xte, test_trip):.3f}, "
          f"1-NN accuracy {nn_accuracy(model, xtr, ytr, xte, yte):.3f}")


if __name__ == "__main__":
    main()
