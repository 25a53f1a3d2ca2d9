"""Training callbacks, the history fit() returns, and its progress display."""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Dict, List, Optional


class History:
    """What ``fit`` returns: ``history`` maps each metric ('loss', 'accuracy',
    'val_loss', ...) to its per-epoch values; ``epoch`` lists the epochs run."""

    def __init__(self) -> None:
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []

    def append(self, epoch: int, logs: Dict[str, float]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __getitem__(self, key: str) -> List[float]:
        return self.history[key]

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, metrics={list(self.history)})"


class Callback:
    """Base class: override any of the hooks. ``self.model`` is set by fit;
    setting ``model.stop_training = True`` ends training after the epoch."""

    model: Any = None

    def on_train_begin(self, logs: Optional[Dict[str, float]] = None) -> None: ...
    def on_train_end(self, logs: Optional[Dict[str, float]] = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, float]] = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, float]] = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Optional[Dict[str, float]] = None) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs (Keras's EarlyStopping).

    mode: 'min', 'max' or 'auto' (max for names containing 'acc', else min).
    restore_best_weights: put back the parameters of the best epoch at the end.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, mode: str = "auto",
                 restore_best_weights: bool = False) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative int, got {patience!r}")
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = patience
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.restore_best_weights = restore_best_weights
        self.stopped_epoch: Optional[int] = None
        self.best_epoch: Optional[int] = None

    def on_train_begin(self, logs: Optional[Dict[str, float]] = None) -> None:
        self.wait = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None
        self.stopped_epoch = None
        self.best_epoch = None

    def _better(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, float]] = None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: metric {self.monitor!r} is not in the logs ({', '.join(logs)}); "
                           "pass validation data to monitor a 'val_' metric")
        value = logs[self.monitor]
        if self._better(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = [p.copy() for p in self.model.parameters()]
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Optional[Dict[str, float]] = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            for p, b in zip(self.model.parameters(), self.best_weights):
                p[...] = b


class Progress:
    """A progress bar over all batches of a fit: tqdm when installed, else a
    plain one on stderr. With ``delay`` it appears only once the run has taken
    that long (short fits stay quiet)."""

    def __init__(self, total: int, delay: float, stream: Any = None) -> None:
        self.total = total
        self.delay = delay
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.bar = None
        self.shown = False
        try:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, delay=delay, unit="batch", leave=True, file=self.stream)
        except ImportError:
            self.bar = None

    def update(self, n: int, postfix: str) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.perf_counter() - self.t0
        if now < self.delay or (now - self.last < 0.1 and self.done < self.total):
            return
        self.last = now
        self.shown = True
        frac = self.done / max(self.total, 1)
        width = 30
        fill = int(frac * width)
        self.stream.write(f"\r[{'=' * fill}{'.' * (width - fill)}] {self.done}/{self.total} "
                          f"{now:.1f}s {postfix}")
        self.stream.flush()

    def set_postfix(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.shown:
            self.stream.write("\n")
            self.stream.flush()
