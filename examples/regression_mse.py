"""Mean squared error: the source document's worked example, then a regression network.

Part 1 computes ``nnmat.losses.mse_loss`` on the document's ten predictions
and true values. The squared differences are
0.04, 0.04, 0.09, 0.04, 0.04, 0.04, 0.01, 0.01, 0.04, 0.04; their sum is
0.39, so MSE = 0.39 / 10 = 0.039. The document writes
``cost = (1/20) * sum (y_i - yhat_i)^2 = 0.045``, which is wrong twice:
its factor 1/20 contradicts its own definition MSE = (1/n) sum with n = 10
(1/(2n) is a different convention, "half the MSE", and gives 0.39/20 = 0.0195),
and 0.045 matches neither 0.039 nor 0.0195. (0.045 is 0.45/10, the sum one gets
if the two differences of 0.1, 7.0-6.9 and 8.8-8.7, are read as 0.2; that is a
guess at the slip, not something the document says.)

Part 2 trains a small network (2-64-64-1, tanh) with the MSE loss on a
generated data set, y = sin(x1) * cos(x2) + noise, and prints the loss falling
epoch by epoch and the test MSE against the noise floor.

    PYTHONPATH=src python3 examples/regression_mse.py
"""
import numpy as np

import nnmat
from nnmat import nn


def document_example():
    pred = np.array([7.6, 8.0, 6.8, 8.9, 7.2, 8.3, 7.0, 8.8, 7.0, 7.6])
    true = np.array([7.8, 8.2, 6.5, 9.1, 7.0, 8.5, 6.9, 8.7, 7.2, 7.8])
    sq = (true - pred) ** 2
    n = len(pred)
    mse = nnmat.losses.mse_loss(pred, true)            # prediction first, then target
    print("Part 1: the document's MSE example")
    print("  squared differences:", np.round(sq, 4).tolist())
    print(f"  sum of squares      = {sq.sum():.4f}")
    print(f"  nnmat mse_loss      = {mse:.6f}   (sum / n, n = {n})")
    print(f"  sum / 20 (= 2n)     = {sq.sum() / 20:.6f}   (the document's 1/20 factor)")
    print("  the document's 0.045 is an arithmetic slip: it is neither 0.039 (1/n) nor 0.0195 (1/(2n))")
    assert abs(mse - 0.039) < 1e-12
    s_sum = nnmat.losses.mse_loss(pred, true, reduction="sum")
    print(f"  mse_loss(reduction='sum') = {s_sum:.6f}")


def regression():
    rng = np.random.default_rng(0)
    x = rng.uniform(-np.pi, np.pi, (4000, 2)).astype(np.float32)
    noise = 0.05
    y = (np.sin(x[:, :1]) * np.cos(x[:, 1:]) + rng.normal(0, noise, (4000, 1))).astype(np.float32)
    xtr, ytr, xte, yte = x[:3000], y[:3000], x[3000:], y[3000:]

    model = nn.Sequential([
        nn.Dense(2, 64, activation="tanh"),
        nn.Dense(64, 64, activation="tanh"),
        nn.Dense(64, 1),
    ], seed=0)
    before = model.evaluate(xte, yte, loss="mse", metrics=None)["loss"]
    print("\nPart 2: regression y = sin(x1) cos(x2) + N(0, 0.05^2), network 2-64-64-1 (tanh), MSE loss")
    print(f"  test MSE before training: {before:.4f}")
    h = model.fit(xtr, ytr, loss=nn.MSELoss(), optimizer=nn.optim.Adam(lr=3e-3), epochs=40,
                  batch_size=64, seed=0, verbose=0)
    losses = h.history["loss"]
    for e in (0, 1, 4, 9, 19, 39):
        print(f"  epoch {e + 1:2d}: training MSE {losses[e]:.5f}")
    after = model.evaluate(xte, yte, loss="mse", metrics=None)["loss"]
    print(f"  test MSE after training:  {after:.5f}   (noise floor {noise ** 2:.5f})")


if __name__ == "__main__":
    document_example()
    regression()
