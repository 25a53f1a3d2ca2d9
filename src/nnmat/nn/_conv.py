"""PointwiseConv2d: a 1x1 convolution (channel mixing at every pixel) on (N, C, H, W)
images, computed by an internal :class:`Dense` on the channels-last view."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ._layers import Dense, Layer

_IN_SEQUENTIAL = ("PointwiseConv2d cannot be used inside Sequential (Sequential runs on rows of "
                  "features; PointwiseConv2d on (N, C, H, W) images): use it as a standalone layer, "
                  "e.g. as a perceptual_loss feature stage")


class PointwiseConv2d(Layer):
    """1x1 convolution ``y[n, :, h, w] = act(W x[n, :, h, w] + b)`` (torch.nn.Conv2d with
    kernel_size=1, then the activation).

    Parameters as :class:`Dense` (``in_channels``/``out_channels`` for
    ``in_features``/``out_features``). ``weight`` has shape (out_channels, in_channels):
    torch's (out, in, 1, 1) kernel squeezed; the default 'torch' initialisation is
    torch.nn.Conv2d's (uniform in ±1/sqrt(in_channels), weight and bias). Inputs are
    (N, C, H, W) or unbatched (C, H, W), channel axis -3. A standalone layer: it
    cannot go inside a :class:`Sequential`.
    """

    def __init__(self, in_channels: int, out_channels: int, activation: Any = None, bias: bool = True, *,
                 init: str = "torch", seed: Optional[int] = None, dtype: Any = np.float32) -> None:
        super().__init__()
        try:
            self._dense = Dense(in_channels, out_channels, activation, bias, init=init, seed=seed, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise type(e)(str(e).replace("Dense:", "PointwiseConv2d:")
                          .replace("in_features", "in_channels").replace("out_features", "out_channels")) from None
        self.in_channels = self._dense.in_features
        self.out_channels = self._dense.out_features
        self._dtype = self._dense.dtype

    # -- parameters (the internal Dense's) --------------------------------------
    @property
    def activation(self):
        return self._dense.activation

    @property
    def init(self) -> str:
        return self._dense.init

    @property
    def seed(self) -> Optional[int]:
        return self._dense.seed

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Draw new weights (and bias) with this layer's ``init`` from ``rng``."""
        self._dense.reset_parameters(rng)

    @property
    def weight(self) -> np.ndarray:
        """(out_channels, in_channels) weight; assigning copies into the layer's array."""
        return self._dense.weight

    @weight.setter
    def weight(self, value: Any) -> None:
        self._dense.weight = value

    @property
    def bias(self) -> Optional[np.ndarray]:
        """(out_channels,) bias or None; assigning copies into the layer's array."""
        return self._dense.bias

    @bias.setter
    def bias(self, value: Any) -> None:
        self._dense.bias = value

    @property
    def weight_grad(self) -> np.ndarray:
        return self._dense.weight_grad

    @property
    def bias_grad(self) -> Optional[np.ndarray]:
        return self._dense.bias_grad

    def parameters(self) -> List[np.ndarray]:
        return self._dense.parameters()

    def gradients(self) -> List[np.ndarray]:
        return self._dense.gradients()

    def _named_parameters(self) -> List[Tuple[str, np.ndarray, np.ndarray]]:
        return self._dense._named_parameters()

    def get_config(self) -> Dict[str, Any]:
        cfg = self._dense.get_config()
        cfg["in_channels"] = cfg.pop("in_features")
        cfg["out_channels"] = cfg.pop("out_features")
        return {k: cfg[k] for k in ("in_channels", "out_channels", "activation", "bias", "init", "seed", "dtype")}

    # -- not usable by the row engine of Sequential -----------------------------
    def _rebind(self, name: str, value: np.ndarray, grad: np.ndarray) -> None:
        raise TypeError(_IN_SEQUENTIAL)

    def _spec(self, width: int) -> tuple:
        raise TypeError(_IN_SEQUENTIAL)

    def output_width(self, width: int) -> int:
        raise TypeError(_IN_SEQUENTIAL)

    # -- forward / backward -------------------------------------------------------
    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        """(N, out_channels, H, W) output for an (N, in_channels, H, W) input."""
        x = np.asarray(x)
        if x.ndim not in (3, 4):
            raise ValueError(f"PointwiseConv2d: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
        if x.shape[-3] != self.in_channels:
            raise ValueError(f"PointwiseConv2d: input has {x.shape[-3]} channels (axis -3), expected "
                             f"in_channels={self.in_channels}")
        y = self._dense.forward(np.moveaxis(x, -3, -1), training)
        self._in_shape = x.shape
        self._out_shape = x.shape[:-3] + (self.out_channels,) + x.shape[-2:]
        return np.ascontiguousarray(np.moveaxis(y, -1, -3))

    __call__ = forward

    def backward(self, grad_output: Any) -> np.ndarray:
        """Gradient with respect to the last forward's input; stores the parameter gradients."""
        if self._in_shape is None:
            raise RuntimeError("PointwiseConv2d.backward: call forward first")
        g = np.asarray(grad_output)
        if g.shape != self._out_shape:
            raise ValueError(f"PointwiseConv2d.backward: grad_output has shape {g.shape}, expected the "
                             f"output's shape {self._out_shape}")
        dx = self._dense.backward(np.moveaxis(g, -3, -1))
        return np.ascontiguousarray(np.moveaxis(dx, -1, -3))

    def __repr__(self) -> str:
        act = "" if self.activation is None else f", activation={self.activation!r}"
        return (f"PointwiseConv2d({self.in_channels}, {self.out_channels}{act}, bias={self.bias is not None}, "
                f"dtype={self._dtype.name})")
