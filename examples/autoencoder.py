"""A dense autoencoder: compress 64 features to an 8-number code and back.

Shows: a ``Sequential`` whose target is its own input (64-32-8-32-64: ReLU
hidden layers, a linear 8-number code, sigmoid output), trained with binary cross-entropy (``nn.BCELoss``:
pixels in [0, 1] are read as probabilities) through ``fit``; the
reconstruction error (MSE and BCE on held-out samples) before and after
training; and how to run only the encoder half (a second ``Sequential`` given
copies of the trained encoder weights).

Data: scikit-learn's digits (pixels / 16) when scikit-learn is installed,
otherwise generated 8x8 "stroke" images (random bars), said at start-up.

    PYTHONPATH=src python3 examples/autoencoder.py
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
        img = np.zeros((1797, 8, 8), np.float32)
        for im in img:   # two random horizontal or vertical bars per image
            for _ in range(2):
                k = rng.integers(0, 8)
                if rng.random() < 0.5:
                    im[k, :] = 1.0
                else:
                    im[:, k] = 1.0
        x = img.reshape(-1, 64)
        name = "generated 8x8 bar images (scikit-learn is not installed)"
    else:
        x = (load_digits().data / 16.0).astype(np.float32)
        name = "scikit-learn digits (X/16)"
    perm = np.random.default_rng(1).permutation(len(x))
    x = x[perm]
    return x[:1400], x[1400:], name


def errors(model, x):
    r = model.predict(x)
    return nnmat.losses.mse_loss(r, x), nnmat.losses.binary_cross_entropy(r, x)


def main():
    xtr, xte, name = load_data()
    print(f"data: {name}: {len(xtr)} training, {len(xte)} held-out images of 64 pixels")
    enc1 = nn.Dense(64, 32, activation="relu")
    enc2 = nn.Dense(32, 8)                       # a linear 8-number code
    model = nn.Sequential([enc1, enc2,
                           nn.Dense(8, 32, activation="relu"),
                           nn.Dense(32, 64, activation="sigmoid")], seed=0)
    mse0, bce0 = errors(model, xte)
    print(f"before training: held-out MSE {mse0:.4f}, BCE {bce0:.4f}")

    t0 = time.perf_counter()
    h = model.fit(xtr, xtr, loss=nn.BCELoss(), optimizer=nn.optim.Adam(lr=3e-3), epochs=60,
                  batch_size=32, seed=0, verbose=0)
    print(f"trained 60 epochs in {time.perf_counter() - t0:.2f} s; training BCE "
          f"{h.history['loss'][0]:.4f} (epoch 1) -> {h.history['loss'][-1]:.4f} (epoch 60)")
    mse1, bce1 = errors(model, xte)
    print(f"after training:  held-out MSE {mse1:.4f}, BCE {bce1:.4f}")
    baseline = nnmat.losses.mse_loss(np.broadcast_to(xtr.mean(0), xte.shape), xte)
    print(f"(predicting the mean image for every sample gives MSE {baseline:.4f})")

    # The encoder half on its own: a new model given copies of the trained weights.
    encoder = nn.Sequential([nn.Dense(64, 32, activation="relu"), nn.Dense(32, 8)])
    for new, old in zip(encoder.layers, (enc1, enc2)):
        new.weight, new.bias = old.weight, old.bias
    codes = encoder.predict(xte[:3])
    assert np.allclose(codes, enc2.forward(enc1.forward(xte[:3])))
    print("8-number codes of three held-out images:")
    for c in codes:
        print("  ", np.array2string(c, precision=2, suppress_small=True))


if __name__ == "__main__":
    main()
