"""Child process of test_bad_input.py::test_huge32: every catalogue entry on zero-stride views
of shape (2**16, 2**16 + 1) (2**32 + 2**16 elements: past 32 bits) under an address-space limit,
so that any attempt to materialise them fails with MemoryError instead of using the machine's
memory. Prints one JSON line per entry: its name and the outcome (exception type or 'ok')."""
import json
import os
import resource
import signal
import sys

resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from catalogue import ENTRIES, scalar_of  # noqa: E402


def huge(shape, k, c):
    if k == "box":
        return np.broadcast_to(np.array([0.0, 0.0, 1.0, 1.0]), shape)
    return np.broadcast_to(np.asarray(scalar_of(k), dtype=np.int64 if k == "lab" else np.float64), shape)


class Hang(Exception):
    pass


def on_alarm(*_):
    raise Hang()


# entries that compute on the zero-stride views directly: their exact results
EXPECTED = {"linear": lambda n, c: 0.25 * c + 0.5}   # x = weight = bias = 0.5

signal.signal(signal.SIGALRM, on_alarm)
SLOW = {"linear"}   # computes on the views: ~15 s of GEMM; run with NNMAT_TEST_HUGE_SLOW=1

for e in ENTRIES:
    if e.name in SLOW and not os.environ.get("NNMAT_TEST_HUGE_SLOW"):
        print(json.dumps([e.name, "skip"]), flush=True)
        continue
    try:
        boxes = any(k == "box" for _, k in e.arrays.values())
        n, c = (2**32 + 1, 2) if boxes else (2**16, 2**16 + 1)
        args = e.build(n=n, c=c, mk=huge)
        signal.alarm(20)
        try:
            res = e.call(args)
            outcome = "ok"
            if e.name in EXPECTED:   # computed without materialising: check the value
                want = EXPECTED[e.name](n, c)
                outcome = "ok" if np.all(np.asarray(res) == want) else f"WRONG: {np.unique(res)[:5]} != {want}"
        finally:
            signal.alarm(0)
    except Hang:
        outcome = "hang"
    except Exception as err:  # noqa: BLE001 - reported to the parent
        outcome = f"{type(err).__name__}: {str(err)[:200]}"
    print(json.dumps([e.name, outcome]), flush=True)
