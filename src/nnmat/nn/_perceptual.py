"""PerceptualLoss: :func:`nnmat.losses.perceptual_loss` as a loss class for ``fit``."""
from __future__ import annotations

from typing import Any, Dict

from .. import losses as L
from ._losses import Loss


class PerceptualLoss(Loss):
    """Perceptual loss through a fixed feature network (:func:`nnmat.losses.perceptual_loss`),
    for training a model whose output is compared with its target in feature space (an
    autoencoder, say).

    ``PerceptualLoss(features, layer_weights=None, distance='mse', lpips_weights=None,
    reduction='mean')``: ``features`` is the list of frozen nnmat.nn stages; the model's
    output (the prediction) and the targets must be what the first stage takes.
    With ``sample_weight``, 'mean' is the weighted mean of the per-sample losses.
    """

    _fn = L.perceptual_loss

    def __init__(self, features: Any, layer_weights: Any = None, distance: str = "mse", lpips_weights: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(reduction=reduction, layer_weights=layer_weights, distance=distance,
                         lpips_weights=lpips_weights)
        self.params = {"features": features, **self.params}
        self.n_inputs = 2   # (prediction, target); features is fixed here

    def get_config(self) -> Dict[str, Any]:
        cfg: Dict[str, Any] = {"reduction": self.reduction,
                               "features": [repr(f) for f in self.params["features"]]}
        for k in ("layer_weights", "distance", "lpips_weights"):
            v = self.params[k]
            if k == "lpips_weights" and v is not None:
                v = [list(map(float, w)) for w in v]
            elif k == "layer_weights" and v is not None:
                v = [float(w) for w in v]
            cfg[k] = v
        return cfg
