#!/usr/bin/env python3
"""What cuBLAS can do for the operator's GEMM shapes (B = 1, D = 768, L = 8K, order 2) on the lent
GPU, through PyTorch (cuBLASLt, its own heuristics): for each shape, every storage layout of A and
B (row- or column-major: the four transposition cases), with and without adding into C, median of
repeated CUDA-event timings after warm-up, random data. The project calls
cublasGemmStridedBatchedEx; `hyena kernels --measure` times those calls, this times the
library's best. Run on the GPU machine: `python3 scripts/gpu-gemm-probe.py` -> $OUT/gemm_probe.json.
"""
import json, os, torch

dev = torch.device("cuda")
# (m, n, k, batch, dtype, what) as `hyena kernels --measure` names them (C[m, n] = A[m, k] B[k, n]).
SHAPES = [
    (8192, 2304, 768, 1, torch.bfloat16, "in_proj (beta 1)"),
    (768, 8192, 768, 1, torch.bfloat16, "out_proj (beta 1)"),
    (8192, 768, 768, 1, torch.bfloat16, "bwd grad out_proj input"),
    (768, 768, 8192, 1, torch.bfloat16, "bwd dW_out"),
    (768, 8192, 2304, 1, torch.bfloat16, "bwd grad u"),
    (768, 2304, 8192, 1, torch.bfloat16, "bwd dW_in"),
    (8192, 64, 768, 1, torch.float32, "filter bwd g_n (f32)"),
    (64, 768, 1024, 8, torch.float32, "filter bwd d OW (f32, batch 8)"),
]


def time_ms(fn, reps=30):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); e.synchronize()
        ts.append(s.elapsed_time(e))
    ts.sort()
    return ts[len(ts) // 2]


rows = []
for m, n, k, b, dt, what in SHAPES:
    for tf32 in ([False, True] if dt == torch.float32 else [False]):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        for la in ("row", "col"):
            for lb in ("row", "col"):
                a = torch.randn(b, m, k, device=dev, dtype=dt) if la == "row" else torch.randn(b, k, m, device=dev, dtype=dt).transpose(1, 2)
                bb = torch.randn(b, k, n, device=dev, dtype=dt) if lb == "row" else torch.randn(b, n, k, device=dev, dtype=dt).transpose(1, 2)
                c = torch.randn(b, m, n, device=dev, dtype=dt)
                ms = time_ms(lambda: torch.bmm(a, bb, out=c) if b > 1 else torch.mm(a[0], bb[0], out=c[0]))
                ms1 = time_ms(lambda: c.baddbmm_(a, bb)) if b == 1 else None
                fl = 2.0 * m * n * k * b
                rows.append({"what": what, "m": m, "n": n, "k": k, "batch": b, "dtype": str(dt), "tf32": tf32,
                             "a": la, "b": lb, "ms": ms, "tflops": fl / ms / 1e9, "ms_beta1": ms1})
                print(f"{what:32s} {m}x{n}x{k}x{b} {str(dt)[6:]:8s} tf32={int(tf32)} A {la:3s} B {lb:3s} "
                      f"{ms*1e3:8.1f} us {fl/ms/1e9:6.0f} TFLOP/s" + (f"  beta1 {ms1*1e3:8.1f} us" if ms1 else ""))
torch.backends.cuda.matmul.allow_tf32 = False
out = os.environ.get("OUT", ".")
json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows},
          open(os.path.join(out, "gemm_probe.json"), "w"), indent=1)
