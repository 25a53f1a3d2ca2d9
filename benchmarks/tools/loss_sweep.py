"""Sweep: nnmat ``loss.value_and_grad`` vs the PyTorch forward + ``backward()`` of the same loss.

A dev tool (not a benchmark family): float32, realistic sizes, 1 and 2 threads
(``torch.set_num_threads(n)`` / ``with nnmat.threads(n):``). Calls are interleaved (nnmat,
torch, nnmat, torch, ...) after a warm-up, and the median of ``--reps`` runs of each is
reported, so a load change on a shared machine hits both sides alike. Where torch has no
built-in, the torch side is a straightforward re-implementation of the reference formula
(spec/losses.md) differentiated by autograd.

    PYTHONPATH=src python3 benchmarks/tools/loss_sweep.py [-k substring ...] [--threads 1 2] [--reps 9]

Prints: case, threads, nnmat ms, torch ms, ratio = torch / nnmat (>= 1: nnmat is not slower).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch

import nnmat
from nnmat import losses as L

F = torch.nn.functional
# torch's kl_div(reduction='mean') warns on every call (its 'mean' is the reference here)
warnings.filterwarnings("ignore", message="reduction: 'mean' divides")


# ---------------------------------------------------------------------------------------------
# torch references (forward only; the harness calls backward())

def t_box(kind):
    def f(b1, b2):
        x1, y1, x2, y2 = b1.unbind(-1)
        g1, h1, g2, h2 = b2.unbind(-1)
        if kind == "iou":   # mmdet iou_loss, mode='log', eps=1e-6
            lt = torch.max(b1[..., :2], b2[..., :2])
            rb = torch.min(b1[..., 2:], b2[..., 2:])
            wh = (rb - lt).clamp(min=0)
            overlap = wh[..., 0] * wh[..., 1]
            union = torch.max((x2 - x1) * (y2 - y1) + (g2 - g1) * (h2 - h1) - overlap, b1.new_tensor([1e-6]))
            return -(overlap / union).clamp(min=1e-6).log().mean()
        eps = 1e-7
        # torchvision _loss_inter_union
        xk1, yk1 = torch.max(x1, g1), torch.max(y1, h1)
        xk2, yk2 = torch.min(x2, g2), torch.min(y2, h2)
        inter = torch.zeros_like(x1)
        mask = (yk2 > yk1) & (xk2 > xk1)
        inter[mask] = (xk2[mask] - xk1[mask]) * (yk2[mask] - yk1[mask])
        union = (x2 - x1) * (y2 - y1) + (g2 - g1) * (h2 - h1) - inter
        iou = inter / (union + eps)
        xc1, yc1 = torch.min(x1, g1), torch.min(y1, h1)
        xc2, yc2 = torch.max(x2, g2), torch.max(y2, h2)
        if kind == "giou":
            area_c = (xc2 - xc1) * (yc2 - yc1)
            return (1 - (iou - (area_c - union) / (area_c + eps))).mean()
        diag = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + eps
        cen = ((x2 + x1) / 2 - (g1 + g2) / 2) ** 2 + ((y2 + y1) / 2 - (h1 + h2) / 2) ** 2
        loss = 1 - iou + cen / diag
        if kind == "ciou":
            w_p, h_p, w_g, h_g = x2 - x1, y2 - y1, g2 - g1, h2 - h1
            v = (4 / math.pi ** 2) * (torch.atan(w_g / h_g) - torch.atan(w_p / h_p)) ** 2
            with torch.no_grad():
                alpha = v / (1 - iou + v + eps)
            loss = loss + alpha * v
        return loss.mean()
    return f


def t_contrastive(x1, x2, t, margin=1.0):
    d2 = ((x1 - x2) ** 2).sum(1)
    d = d2.sqrt()
    return (t * d2 / 2 + (1 - t) * torch.relu(margin - d) ** 2 / 2).mean()


def t_batch_contrastive(x, lab):
    """PML ContrastiveLoss(pos_margin=0, neg_margin=1): LpDistance (normalize, torch.cdist),
    all pairs, AvgNonZeroReducer per kind."""
    u = F.normalize(x, p=2, dim=1)
    d = torch.cdist(u, u)
    same = (lab[:, None] == lab[None]) & ~torch.eye(len(lab), dtype=torch.bool)
    diff = lab[:, None] != lab[None]
    pos = torch.relu(d[same] - 0.0)
    neg = torch.relu(1.0 - d[diff])
    return pos.sum() / (pos > 0).sum().clamp_min(1) + neg.sum() / (neg > 0).sum().clamp_min(1)


def t_center(x, lab, centers):
    return (((x - centers[lab]) ** 2).sum(1) / 2).mean()


def t_angular(x, lab, alpha=40.0):
    """PML AngularLoss.compute_loss (all positive pairs, mean reducer)."""
    same = (lab[:, None] == lab[None]) & ~torch.eye(len(lab), dtype=torch.bool)
    a1, p = torch.where(same)
    anchors = F.normalize(x[a1], p=2, dim=1)
    positives = F.normalize(x[p], p=2, dim=1)
    keep = lab[a1][:, None] != lab[None]
    sq = math.tan(math.radians(alpha)) ** 2
    ap_dot = (anchors * positives).sum(1, keepdim=True)
    ap_emb = torch.matmul(anchors + positives, x.unsqueeze(2)).squeeze(2).t()
    f = 4 * sq * ap_emb - 2 * (1 + sq) * ap_dot
    f = f.masked_fill(~keep, torch.finfo(f.dtype).min)
    f = torch.cat([f, torch.zeros(len(a1), 1, dtype=f.dtype)], dim=1)
    return torch.logsumexp(f, dim=1).mean()


def t_dice(p, y, eps=1e-7):
    return 1 - 2 * (y * p).sum() / (y.sum() + p.sum() + eps)


def t_soft_dice(mode):
    def f(x, y, eps=1e-7):
        bs, nc = x.shape[:2]
        if mode == "multiclass":
            out = x.log_softmax(dim=1).exp().view(bs, nc, -1)
            yt = y  # one-hot (N, C, HW), prepared outside
        else:
            out = F.logsigmoid(x).exp().view(bs, 1, -1)
            yt = y.view(bs, 1, -1)
        inter = torch.sum(out * yt, dim=(0, 2))
        card = torch.sum(out + yt, dim=(0, 2))
        scores = (2.0 * inter) / card.clamp_min(eps)
        loss = (1.0 - scores) * (yt.sum((0, 2)) > 0).to(scores.dtype)
        return loss.mean()
    return f


def t_gp(g):
    return ((torch.sqrt((g ** 2).sum(1) + 1e-10) - 1) ** 2).mean()


def t_sparsemax_loss(z, q):
    zs, _ = torch.sort(z, dim=1, descending=True)
    k = torch.arange(1, z.shape[1] + 1, dtype=z.dtype)
    cs = zs.cumsum(1)
    kz = ((1 + k * zs) > cs).sum(1, keepdim=True)
    tau = (cs.gather(1, kz - 1) - 1) / kz.to(z.dtype)
    p = torch.clamp(z - tau, min=0)
    sup = p > 0
    loss = torch.where(sup, p * (z - p / 2), torch.zeros_like(z)).sum(1) + (q * (q / 2 - z)).sum(1)
    # tfa registers the gradient sparsemax(z) - q; autograd through sort/gather gives the same here
    return loss.mean()


# ---------------------------------------------------------------------------------------------
# cases: (name, nnmat closure, torch closure)

def cases(rng):
    out = []
    f32 = np.float32

    def boxes(n):
        xy = rng.uniform(0, 100, (n, 2)).astype(f32)
        wh = rng.uniform(1, 50, (n, 2)).astype(f32)
        b1 = np.concatenate([xy, xy + wh], 1)
        xy2 = xy + rng.normal(0, 10, (n, 2)).astype(f32)
        wh2 = rng.uniform(1, 50, (n, 2)).astype(f32)
        return b1, np.concatenate([xy2, xy2 + wh2], 1).astype(f32)

    b1, b2 = boxes(100_000)
    for name, kind in (("iou_loss", "iou"), ("generalized_box_iou_loss", "giou"),
                       ("distance_box_iou_loss", "diou"), ("complete_box_iou_loss", "ciou")):
        fn = getattr(L, name)
        out.append((f"{name} 100k", lambda fn=fn: fn.value_and_grad(b1, b2, reduction="mean"),
                    (t_box(kind), [b1, b2], [0])))

    a, p, n = (rng.normal(size=(4096, 128)).astype(f32) for _ in range(3))
    for swap in (False, True):
        out.append((f"triplet_margin_loss 4096x128{' swap' if swap else ''}",
                    lambda swap=swap: L.triplet_margin_loss.value_and_grad(a, p, n, swap=swap),
                    (lambda a_, p_, n_, swap=swap: F.triplet_margin_loss(a_, p_, n_, swap=swap),
                     [a, p, n], [0, 1, 2])))
    tgt = rng.integers(0, 2, 4096).astype(f32)
    x1 = (0.1 * a).astype(f32)
    x2 = (0.1 * p).astype(f32)
    out.append(("contrastive_loss 4096x128", lambda: L.contrastive_loss.value_and_grad(x1, x2, tgt),
                (t_contrastive, [x1, x2, tgt], [0, 1])))

    for b, d, ncls in ((512, 64, 10), (2048, 128, 10)):
        x = rng.normal(size=(b, d)).astype(f32)
        lab = rng.integers(0, ncls, b)
        out.append((f"batch_contrastive_loss {b}x{d}",
                    lambda x=x, lab=lab: L.batch_contrastive_loss.value_and_grad(x, lab),
                    (t_batch_contrastive, [x, lab], [0])))

    xc = rng.normal(size=(4096, 128)).astype(f32)
    labc = rng.integers(0, 100, 4096)
    cen = rng.normal(size=(100, 128)).astype(f32)
    out.append(("center_loss 4096x128 c100", lambda: L.center_loss.value_and_grad(xc, labc, cen),
                (t_center, [xc, labc, cen], [0])))

    for b, d in ((512, 64), (1024, 128)):
        x = (0.3 * rng.normal(size=(b, d))).astype(f32)
        lab = rng.integers(0, 10, b)
        out.append((f"angular_loss {b}x{d} c10", lambda x=x, lab=lab: L.angular_loss.value_and_grad(x, lab),
                    (t_angular, [x, lab], [0])))

    pd = rng.uniform(size=1_000_000).astype(f32)
    yd = (rng.uniform(size=1_000_000) > 0.5).astype(f32)
    out.append(("dice_loss 1e6", lambda: L.dice_loss.value_and_grad(pd, yd), (t_dice, [pd, yd], [0])))

    xm = rng.normal(size=(8, 4, 128, 128)).astype(f32)
    ym = rng.integers(0, 4, (8, 128, 128))
    ym_oh = np.ascontiguousarray(np.eye(4, dtype=f32)[ym.reshape(8, -1)].transpose(0, 2, 1))
    out.append(("soft_dice_loss 8x4x128x128 multiclass",
                lambda: L.soft_dice_loss.value_and_grad(xm, ym, mode="multiclass"),
                (t_soft_dice("multiclass"), [xm, ym_oh], [0])))
    xb = rng.normal(size=(8, 1, 128, 128)).astype(f32)
    yb = (rng.uniform(size=(8, 1, 128, 128)) > 0.5).astype(f32)
    out.append(("soft_dice_loss 8x1x128x128 binary",
                lambda: L.soft_dice_loss.value_and_grad(xb, yb, mode="binary"),
                (t_soft_dice("binary"), [xb, yb], [0])))

    g = rng.normal(size=(256, 3072)).astype(f32) / 40
    out.append(("gradient_penalty 256x3072", lambda: L.gradient_penalty.value_and_grad(g), (t_gp, [g], [0])))

    r = rng.normal(size=1_000_000).astype(f32)
    fk = rng.normal(size=1_000_000).astype(f32)
    bce = F.binary_cross_entropy_with_logits
    out += [
        ("gan_discriminator_loss 1e6+1e6", lambda: L.gan_discriminator_loss.value_and_grad(r, fk),
         (lambda r_, f_: bce(r_, torch.ones_like(r_)) + bce(f_, torch.zeros_like(f_)), [r, fk], [0, 1])),
        ("gan_generator_loss 1e6", lambda: L.gan_generator_loss.value_and_grad(fk),
         (lambda f_: bce(f_, torch.ones_like(f_)), [fk], [0])),
        ("wasserstein_critic_loss 1e6+1e6", lambda: L.wasserstein_critic_loss.value_and_grad(r, fk),
         (lambda r_, f_: f_.mean() - r_.mean(), [r, fk], [0, 1])),
        ("wasserstein_generator_loss 1e6", lambda: L.wasserstein_generator_loss.value_and_grad(fk),
         (lambda f_: -f_.mean(), [fk], [0])),
        ("lsgan_discriminator_loss 1e6+1e6", lambda: L.lsgan_discriminator_loss.value_and_grad(r, fk),
         (lambda r_, f_: 0.5 * ((r_ - 1) ** 2).mean() + 0.5 * (f_ ** 2).mean(), [r, fk], [0, 1])),
        ("lsgan_generator_loss 1e6", lambda: L.lsgan_generator_loss.value_and_grad(fk),
         (lambda f_: 0.5 * ((f_ - 1) ** 2).mean(), [fk], [0])),
    ]

    # multi-class (owned by another helper: reported only)
    B, K = 4096, 1000
    z = rng.normal(size=(B, K)).astype(f32)
    logq = (z - np.log(np.exp(z).sum(1, keepdims=True))).astype(f32)
    pz = rng.uniform(size=(B, K)).astype(f32)
    pz /= pz.sum(1, keepdims=True)
    q = np.exp(logq).astype(f32)
    yk = rng.integers(0, K, B)
    onehot = np.eye(K, dtype=f32)[yk]
    out += [
        ("kl_div 4096x1000 (multiclass)", lambda: L.kl_div.value_and_grad(logq, pz),
         (lambda i, t: F.kl_div(i, t, reduction="mean"), [logq, pz], [0])),
        ("kl_divergence 4096x1000 (multiclass)", lambda: L.kl_divergence.value_and_grad(q, pz),
         (lambda i, t: (t.clamp(1e-7, 1) * (t.clamp(1e-7, 1) / i.clamp(1e-7, 1)).log()).sum(1).mean(),
          [q, pz], [0])),
        ("nll_loss 4096x1000 (multiclass)", lambda: L.nll_loss.value_and_grad(logq, yk),
         (F.nll_loss, [logq, yk], [0])),
        ("sparsemax_loss 4096x1000 (multiclass)", lambda: L.sparsemax_loss.value_and_grad(z, onehot),
         (t_sparsemax_loss, [z, onehot], [0])),
    ]
    return out


def torch_closure(spec):
    fn, arrays, grad_idx = spec
    ts = [torch.from_numpy(np.ascontiguousarray(v)) for v in arrays]
    for i in grad_idx:
        ts[i].requires_grad_(True)

    def run():
        for i in grad_idx:
            ts[i].grad = None
        fn(*ts).backward()
    return run


def bench(f_nn, f_t, nthreads, reps):
    torch.set_num_threads(nthreads)
    with nnmat.threads(nthreads):
        for _ in range(2):
            f_nn()
            f_t()
        tn, tt = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            f_nn()
            t1 = time.perf_counter()
            f_t()
            t2 = time.perf_counter()
            tn.append(t1 - t0)
            tt.append(t2 - t1)
    return statistics.median(tn) * 1e3, statistics.median(tt) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", nargs="*", default=None, help="only cases whose name contains one of these")
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--reps", type=int, default=9)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; torch {torch.__version__}; "
          f"median of {args.reps} interleaved runs; ratio = torch / nnmat (>= 1: nnmat not slower)")
    print(f"{'case':44s} {'thr':>3s} {'nnmat ms':>10s} {'torch ms':>10s} {'ratio':>7s}")
    for name, f_nn, spec in cases(rng):
        if args.k and not any(s in name for s in args.k):
            continue
        f_t = torch_closure(spec)
        for nt in args.threads:
            mn, mt = bench(f_nn, f_t, nt, args.reps)
            flag = "  <-- SLOWER" if mt / mn < 1.0 else ""
            print(f"{name:44s} {nt:3d} {mn:10.3f} {mt:10.3f} {mt / mn:7.2f}{flag}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
