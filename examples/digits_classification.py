"""Classify handwritten digits with an MLP trained by ``Sequential.fit``.

Shows: building a ``Sequential`` of ``Dense`` layers (64-128-64-10, ReLU),
training with Adam (lr 1e-3, batch 32, 30 epochs) on the cross-entropy loss,
``evaluate`` on a held-out test set; then the same model trained again with a
validation split monitored by ``EarlyStopping`` (which restores the weights of
the best epoch).

Data: scikit-learn's bundled digits (1797 8x8 images, pixels / 16, a
stratified split of 450 test samples, random_state=0) when scikit-learn is
installed; otherwise a generated 10-class data set of 64 features (Gaussian
clusters), so the example runs with numpy and nnmat only.

    PYTHONPATH=src python3 examples/digits_classification.py
"""
import time

import numpy as np

from nnmat import nn


def load_data():
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        rng = np.random.default_rng(0)
        centers = rng.normal(0, 1, (10, 64))
        y = rng.integers(0, 10, 1797)
        x = 0.5 * centers[y] + rng.normal(0, 1.5, (1797, 64))
        return (x[:-450].astype(np.float32), y[:-450], x[-450:].astype(np.float32), y[-450:],
                "generated 10-class Gaussian clusters (scikit-learn is not installed)")
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, digits.target, test_size=450, stratify=digits.target,
                                          random_state=0)
    return xtr, ytr, xte, yte, "scikit-learn digits (load_digits, X/16)"


def main():
    xtr, ytr, xte, yte, name = load_data()
    print(f"data: {name}: {len(xtr)} training, {len(xte)} test samples, {xtr.shape[1]} features")

    model = nn.Sequential([
        nn.Dense(64, 128, activation="relu"),
        nn.Dense(128, 64, activation="relu"),
        nn.Dense(64, 10),
    ], seed=0)
    model.summary()

    # 1. The specified run: all training rows, 30 epochs.
    t0 = time.perf_counter()
    history = model.fit(xtr, ytr, loss=nn.CrossEntropyLoss(), optimizer=nn.optim.Adam(lr=1e-3),
                        epochs=30, batch_size=32, metrics=["accuracy"], seed=0, verbose=0)
    elapsed = time.perf_counter() - t0
    h = history.history
    for e in (0, 9, 19, 29):
        print(f"epoch {e + 1:2d}: loss {h['loss'][e]:.4f}  training accuracy {h['accuracy'][e]:.4f}")
    result = model.evaluate(xte, yte)
    print(f"trained 30 epochs in {elapsed:.2f} s: test loss {result['loss']:.4f}, "
          f"test accuracy {result['accuracy']:.4f}")

    # 2. The same model with a validation split and early stopping: the last 10 % of the
    #    training rows are held out, training stops when val_loss has not improved for
    #    5 epochs and the weights of the best epoch are put back.
    model2 = nn.Sequential([
        nn.Dense(64, 128, activation="relu"),
        nn.Dense(128, 64, activation="relu"),
        nn.Dense(64, 10),
    ], seed=0)
    stop = nn.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    t0 = time.perf_counter()
    h2 = model2.fit(xtr, ytr, loss="cross_entropy", optimizer=nn.optim.Adam(lr=1e-3), epochs=30,
                    batch_size=32, validation_split=0.1, callbacks=[stop], metrics=["accuracy"],
                    seed=0, verbose=0).history
    elapsed = time.perf_counter() - t0
    ran = len(h2["loss"])
    print(f"\nwith validation_split=0.1 and EarlyStopping(patience=5): ran {ran} epochs in {elapsed:.2f} s"
          + (f", stopped after epoch {stop.stopped_epoch + 1}" if stop.stopped_epoch is not None else "")
          + f"; best val_loss {min(h2['val_loss']):.4f} at epoch {stop.best_epoch + 1} "
          f"(val accuracy {h2['val_accuracy'][stop.best_epoch]:.4f})")
    print(f"restored best weights: test accuracy {model2.evaluate(xte, yte)['accuracy']:.4f} "
          f"(trained on {len(xtr) - int(len(xtr) * 0.1)} rows instead of {len(xtr)})")

if __name__ == "__main__":
    main()
