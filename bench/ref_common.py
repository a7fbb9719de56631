"""bench/ref_common.py — what the PyTorch reference scripts share: the input folder
written by `bench gen`, thread setup, the warm-up + median timer and the result line
(the same tab-separated shape bench.c prints, plus the agreement with voz's output)."""
import ctypes
import os
import sys
import time

import numpy as np
import torch


def blas_threads(n=None):
    """Debian's torch does its GEMMs in the system BLAS (OpenBLAS, pthreads build), whose
    own thread pool torch.set_num_threads() leaves at the core count. Sets it to n (when
    given) so 'n threads' holds for torch as for voz; returns the count in effect, or 0
    when the BLAS is not OpenBLAS."""
    try:
        lib = ctypes.CDLL("libblas.so.3")
        lib.openblas_get_num_threads.restype = ctypes.c_int
        if n is not None:
            lib.openblas_set_num_threads(ctypes.c_int(n))
        return lib.openblas_get_num_threads()
    except (OSError, AttributeError):
        return 0


def setup(argv, usage):
    """Parses THREADS REPS DIR, sets torch's intra-op threads (and its BLAS's), returns them."""
    if len(argv) != 3:
        sys.exit("usage: " + usage)
    threads, reps, folder = int(argv[0]), int(argv[1]), argv[2]
    torch.set_num_threads(threads)
    blas_threads(threads)
    torch.manual_seed(0)
    return threads, reps, folder


def shapes(folder):
    out = {}
    with open(os.path.join(folder, "shapes.txt")) as f:
        for line in f:
            k, v = line.split()
            out[k] = float(v) if "." in v or "e" in v else int(v)
    return out


def load(folder, name, dtype=np.float32, shape=None):
    a = np.fromfile(os.path.join(folder, name), dtype=np.dtype(dtype).newbyteorder("<"))
    return a.reshape(shape) if shape is not None else a


def load_voz(folder, case, shape):
    """voz's output of the same case (written by `bench run`), or None before it ran."""
    path = os.path.join(folder, "voz_%s.f32" % case)
    if not os.path.exists(path):
        return None
    return load(folder, "voz_%s.f32" % case, shape=shape)


def time_case(fn, reps):
    """One untimed warm-up call, then `reps` timed calls: (median, min, max) in ms."""
    fn()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(t)), min(t), max(t)


def report(case, threads, timing, check_value, maxdiff):
    """case, threads, median ms, min, max, check value, max |voz - torch| (nan: not
    compared), OpenBLAS threads in effect."""
    med, lo, hi = timing
    print("%s\t%d\t%.4f\t%.4f\t%.4f\t%.9g\t%.3g\t%d" % (case, threads, med, lo, hi, check_value, maxdiff,
                                                       blas_threads()))
    sys.stdout.flush()
