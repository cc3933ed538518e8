#!/usr/bin/env python3
"""The two ceilings of a lent GPU (METHOD.md): device-to-device copy of 2 GiB (bytes read + written) and a
bf16 8192^3 GEMM on random data, each the median of 10 CUDA-event timings after 3 warm-ups, plus
the clocks nvidia-smi reports right after. Run there: python3 scripts/gpu-ceilings.py -> $OUT/ceilings.json.
First run 2026-12-04 16:55 UTC (docs/bench/gpu-h200-2026-12-04-1653/ceilings.json)."""
import torch, time, json, os
d = torch.device("cuda")
out = {}
n = 1 << 30  # 1 GiB bf16 elements = 2 GiB per buffer
a = torch.randn(n, device=d, dtype=torch.bfloat16); b = torch.empty_like(a)
for _ in range(3): b.copy_(a)
torch.cuda.synchronize()
ts = []
for _ in range(10):
    s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
    s.record(); b.copy_(a); e.record(); e.synchronize(); ts.append(s.elapsed_time(e))
ts.sort(); med = ts[len(ts)//2]
out["copy_bytes_rw"] = 2 * a.numel() * 2; out["copy_ms_median"] = med
out["copy_TBps"] = 2 * a.numel() * 2 / (med * 1e-3) / 1e12
del a, b
x = torch.randn(8192, 8192, device=d, dtype=torch.bfloat16); y = torch.randn_like(x)
for _ in range(3): x @ y
torch.cuda.synchronize(); ts = []
for _ in range(10):
    s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
    s.record(); x @ y; e.record(); e.synchronize(); ts.append(s.elapsed_time(e))
ts.sort(); med = ts[len(ts)//2]
out["gemm_8192_bf16_ms_median"] = med; out["gemm_TFLOPs"] = 2 * 8192**3 / (med * 1e-3) / 1e12
out["clocks"] = os.popen("nvidia-smi --query-gpu=clocks.sm,clocks.mem,clocks.max.sm,power.draw,temperature.gpu --format=csv").read()
print(json.dumps(out, indent=1))
json.dump(out, open(os.environ.get("OUT", "/tmp") + "/ceilings.json", "w"), indent=1)
