"""Interleaved nnmat vs torch timings for cross-entropy / softmax (median of repeats).

Usage: PYTHONPATH=src python3 benchmarks/tools/multiclass_vs_torch.py [REPEATS] [vg,val,sm,lsm,smb,lsmb] [1,2]
On a shared machine check `uptime` first: a busy core makes 2-thread timings meaningless."""
import sys, time, statistics as st
import numpy as np, torch, torch.nn.functional as F
import nnmat
from nnmat.losses import cross_entropy as ce
from nnmat.activations import softmax, log_softmax

REP = int(sys.argv[1]) if len(sys.argv) > 1 else 11
WHICH = sys.argv[2].split(",") if len(sys.argv) > 2 else ["vg", "val", "sm", "lsm", "smb", "lsmb"]
THREADS = [int(t) for t in (sys.argv[3].split(",") if len(sys.argv) > 3 else ["1", "2"])]

def tm(f, inner):
    f()
    t = time.perf_counter()
    for _ in range(inner):
        f()
    return (time.perf_counter() - t) / inner

def cmp(name, fn, ft, inner=5):
    a, b = [], []
    for _ in range(REP):
        a.append(tm(fn, inner)); b.append(tm(ft, inner))
    ma, mb = st.median(a), st.median(b)
    print(f"{name:38s} nnmat {ma*1e3:7.3f} ms  torch {mb*1e3:7.3f} ms  ratio {mb/ma:5.2f}x", flush=True)

rng = np.random.default_rng(0)
for n in THREADS:
    torch.set_num_threads(n)
    with nnmat.threads(n):
        for shape in [(4096, 1000), (256, 32000)]:
            x = rng.standard_normal(shape, dtype=np.float32) * 3
            y = rng.integers(0, shape[1], shape[0])
            xt = torch.from_numpy(x.copy()); yt = torch.from_numpy(y)
            g = rng.standard_normal(shape, dtype=np.float32)
            gt = torch.from_numpy(g)
            xr = xt.clone().requires_grad_()
            def tvg():
                xr.grad = None
                l = F.cross_entropy(xr, yt); l.backward()
            tag = f"t{n} {shape}"
            if "vg" in WHICH: cmp(f"{tag} CE value_and_grad", lambda: ce.value_and_grad(x, y), tvg)
            if "val" in WHICH: cmp(f"{tag} CE value", lambda: ce(x, y), lambda: F.cross_entropy(xt, yt))
            if shape[1] != 1000: continue
            if "sm" in WHICH: cmp(f"{tag} softmax", lambda: softmax(x), lambda: torch.softmax(xt, -1))
            if "lsm" in WHICH: cmp(f"{tag} log_softmax", lambda: log_softmax(x), lambda: torch.log_softmax(xt, -1))
            ys = torch.softmax(xt, -1); yl = torch.log_softmax(xt, -1)
            # torch backward kernels take the forward output
            if "smb" in WHICH: cmp(f"{tag} softmax.backward", lambda: softmax.backward(x, g),
                lambda: torch._softmax_backward_data(gt, ys, -1, torch.float32))
            if "lsmb" in WHICH: cmp(f"{tag} log_softmax.backward", lambda: log_softmax.backward(x, g),
                lambda: torch._log_softmax_backward_data(gt, yl, -1, torch.float32))
