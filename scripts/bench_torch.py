#!/usr/bin/env python3
"""PyTorch baselines for `hyena bench` (run by it as a subprocess; also usable alone).

CPU (`--device cpu`):
  torch_sdpa_fwd / _fwdbwd     causal F.scaled_dot_product_attention, f32, [B, H, L, dh]
  torch_hyena_fwd / _fwdbwd    the port: a standalone PyTorch Hyena operator (written here from
                               the paper's equations: in_proj -> short depthwise conv -> implicit
                               filter FFN -> gated rfft/irfft causal long convolutions ->
                               out_proj), f32
  torch_safari_fwd / _fwdbwd   the original safari HyenaOperator (build_safari: nn.Conv1d short
                               conv), f32; timed right after the port at each length, and not
                               sampled further once clearly slower (RIVAL_* below)
                               (--hyena-variants picks either or both)
GPU (`--device cuda`):
  flash2_fwd / _fwdbwd         SDPA restricted to SDPBackend.FLASH_ATTENTION (FlashAttention-2),
                               bf16, causal
  cudnn_fwd / _fwdbwd          SDPA restricted to SDPBackend.CUDNN_ATTENTION (cuDNN's fused
                               attention; on Hopper faster than FlashAttention-2), bf16, causal,
                               when the installed torch offers that backend
  torch_fftconv_fwd            the Hyena mixing core alone (gated causal FFT conv with a
                               precomputed filter spectrum) through torch.fft, f32
  torch_hyena_fwd / _fwdbwd    the same standalone operator as on CPU, f32
  d2d_copy_gbps                device-to-device copy bandwidth (read + write), this run
  fftconv_bw_pct               torch_fftconv_fwd's compulsory traffic / time, as % of the copy

Times are medians (ms) of repeated runs after warm-up: at least --reps runs and until they add up
to --sample-secs, no run started past --cell-budget-secs (the same rule as `hyena bench`); each
result also has the fastest run and the quartiles. On GPU each run is bracketed by CUDA events.
Cells whose estimated single run exceeds --max-est-secs (extrapolated from the previous length:
L^2 for attention, L log L otherwise) are skipped, OOM is caught and reported.
Writes JSON: {"meta": {...}, "columns": [...],
              "results": [{"key", "L", "value", "reps", "status", "min", "p25", "p75"}]}.

--serve (used by `hyena bench` on the CPU, so that each PyTorch cell runs right after its Rust
counterpart and both sides of a ratio see the same host conditions): prints one JSON line
{"meta", "columns"}, then answers each request line {"L": 1024, "keys": ["torch_hyena_fwd"]} (keys
omitted: every column) with one line {"results": [...]}, until stdin closes. Anything else the
process prints goes to stderr.
"""

import argparse
import json
import math
import os
import sys
import time


def log(msg):
    print(f"[bench_torch] {msg}", file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--lengths", default="1024,2048,4096,8192,16384,32768,65536")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--no-cudnn", action="store_true", help="skip the cuDNN attention columns (GPU)")
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--order", type=int, default=2)
    p.add_argument("--filter-width", type=int, default=64)
    p.add_argument("--emb-dim", type=int, default=33)
    p.add_argument("--modulate", action="store_true",
                   help="window the implicit filter (exp(-t|delta|), safari's default modulate=True); the paper's "
                        "benchmark (safari benchmarks/runtime_hyena_flashmha.py) runs modulate=False, the default here")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave torch's default)")
    p.add_argument("--reps", type=int, default=5, help="fewest timed runs per cell")
    p.add_argument("--sample-secs", type=float, default=0.5,
                   help="keep taking timed runs until they add up to this many seconds")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--max-est-secs", type=float, default=30.0)
    p.add_argument("--cell-budget-secs", type=float, default=20.0)
    p.add_argument("--fwd-only", action="store_true")
    p.add_argument("--conv1d", action="store_true",
                   help="short conv through nn.Conv1d (slow CPU backward) instead of shifted products")
    p.add_argument("--hyena-variants", default="port,safari",
                   help="PyTorch Hyena operators to time: 'port' (this script's, torch_hyena_* columns), "
                        "'safari' (the original HyenaOperator with nn.Conv1d, torch_safari_* columns)")
    p.add_argument("--check-variants", action="store_true",
                   help="check that the port and safari's module compute the same y and input gradient "
                        "(order 2, shared weights, f64), print the deviations, exit 1 if they differ")
    p.add_argument("--out", default="-", help="JSON output path ('-' for stdout)")
    p.add_argument("--serve", action="store_true", help="answer one length per stdin line (see above)")
    a = p.parse_args(argv)
    a.lengths = sorted({int(x) for x in a.lengths.split(",") if x.strip()})
    a.hyena_variants = [x.strip() for x in a.hyena_variants.split(",") if x.strip()]
    if not a.hyena_variants or any(x not in ("port", "safari") for x in a.hyena_variants):
        p.error("--hyena-variants takes a comma-separated subset of port,safari")
    if a.width % a.head_dim != 0:
        p.error("--width must be a multiple of --head-dim")
    if a.order < 2:
        p.error("--order must be at least 2")
    return a


# ------------------------------------------------------------------------------------------------
# The Hyena operator, from the paper (Poli et al. 2023, Sec. 3): with (x^1..x^N, v) = projections
# of u, z^1 = v, z^{n+1}_t = x^n_t * (h^n * z^n)_t (causal long convolution), y = out(z^{N+1}).
# Projections are a dense in_proj followed by a short depthwise causal convolution; each h^n is
# implicit: FFN(positional encoding(t)) * exponential-decay window.


def sin_module(torch):
    """safari's Sin activation, sin(freq * x) with a trainable per-unit frequency (both variants)."""
    nn = torch.nn

    class Sin(nn.Module):
        def __init__(self, dim, w=1.0):
            super().__init__()
            self.freq = nn.Parameter(w * torch.ones(1, dim))

        def forward(self, x):
            return torch.sin(self.freq * x)

    return Sin


def build_hyena(torch, d, order, filter_width, emb_dim, l_max, device, dtype, conv1d=False, modulate=False):
    nn = torch.nn

    Sin = sin_module(torch)

    class ImplicitFilter(nn.Module):
        """h[c, t] = FFN(pos(t))[c], times exp(-|delta_c| t), t in [0, 1], with `modulate`."""

        def __init__(self, channels, emb_dim, width, l_max):
            super().__init__()
            t = torch.linspace(0, 1, l_max)[:, None]  # [L, 1]
            bands = (emb_dim - 1) // 2
            tr = torch.linspace(0, l_max - 1, l_max)[:, None] * 2 * math.pi / l_max
            f = torch.linspace(1e-4, bands - 1, bands)[None]
            z = torch.cat([t, torch.cos(f * tr), -torch.sin(f * tr)], dim=-1)  # [L, emb_dim]
            self.register_buffer("z", z)
            self.register_buffer("t", t)
            self.ffn = nn.Sequential(
                nn.Linear(emb_dim, width), Sin(width),
                nn.Linear(width, width), Sin(width),
                nn.Linear(width, width), Sin(width),
                nn.Linear(width, channels, bias=False),
            )
            max_decay, min_decay = math.log(1e-2) / 0.3, math.log(1e-2) / 1.5
            self.register_buffer("deltas", torch.linspace(min_decay, max_decay, channels)[None])

        def forward(self, l):
            h = self.ffn(self.z[:l])  # [L, C]
            if modulate:
                h = h * torch.exp(-self.t[:l] * self.deltas.abs())
            return h.transpose(0, 1)  # [C, L]

    class HyenaOperator(nn.Module):
        def __init__(self):
            super().__init__()
            self.d, self.order = d, order
            inner = d * (order + 1)
            self.in_proj = nn.Linear(d, inner)
            self.out_proj = nn.Linear(d, d)
            self.conv1d = conv1d
            self.short = nn.Conv1d(inner, inner, 3, padding=2, groups=inner)
            self.filt = ImplicitFilter(d * (order - 1), emb_dim, filter_width, l_max)
            self.skip = nn.Parameter(torch.randn(order - 1, d))

        def forward(self, u):  # u [B, L, D]
            b, l, d = u.shape
            z = self.in_proj(u).transpose(1, 2)  # [B, (N+1)D, L]
            if self.conv1d:
                z = self.short(z)[..., :l]
            else:
                # the same causal depthwise conv as Conv1d(k=3, padding=2)[..., :L], as shifted
                # products: PyTorch's CPU depthwise-conv backward is very slow (measured: 7.1 s of
                # 8.4 s of a fwd+bwd at L=2K, torch 2.15, 2 threads)
                w, bias = self.short.weight[:, 0, :], self.short.bias
                zp = torch.nn.functional.pad(z, (2, 0))
                z = (w[:, 0, None] * zp[..., :l] + w[:, 1, None] * zp[..., 1 : l + 1]
                     + w[:, 2, None] * zp[..., 2 : l + 2] + bias[:, None])
            *xs, v = z.split(d, dim=1)
            h = self.filt(l).view(self.order - 1, d, l)
            n = 2 * l
            hf = torch.fft.rfft(h, n=n) / n  # [N-1, D, n/2+1]
            for o, x in enumerate(reversed(xs[1:])):
                v = v * x
                y = torch.fft.irfft(torch.fft.rfft(v, n=n) * hf[o], n=n, norm="forward")[..., :l]
                v = y + v * self.skip[o][:, None]
            y = v * xs[0]
            return self.out_proj(y.transpose(1, 2))

    return HyenaOperator().to(device=device, dtype=dtype)


def build_safari(torch, d, order, filter_width, emb_dim, l_max, device, dtype, modulate=False):
    """The original safari `HyenaOperator` (HazyResearch/safari, src/models/sequence/hyena.py, with
    its default `hyena-filter`), restated here without its repository (registry, einops, OptimModule)
    but with the same modules, shapes and autograd graph for the bench's configuration (num_heads 1,
    num_blocks 1, inner_factor 1, dropout 0, activation "id", no fused fftconv, no post-order FFN):
      * in_proj Linear(D, (N+1)D) -> [B, (N+1)D, L] -> short_filter = nn.Conv1d(k=3, groups=C,
        padding=2)[..., :L] (PyTorch's own depthwise conv, forward and backward);
      * the activations viewed [B, heads=1, C, blocks=1, L] as safari's rearrange does;
      * HyenaFilter: positional embedding z (a trainable Parameter, lr 1e-5 in safari: its gradient is
        computed), an FFN Linear(emb, W), Sin, 2 x (Linear(W, W), Sin) with ONE shared Sin module
        (freq w=1), Linear(W, (N-1)D, bias=False), the exponential modulation with `modulate` (shift 0;
        safari's default is modulate=True, its benchmark script's modulate=False); channels (v o)
        interleaved;
      * fftconv_ref per order step: rfft(k, 2L)/2L recomputed in the step, rfft(v), irfft, + v * bias;
      * out_proj on the [B, L, D] view of v * x0."""
    nn = torch.nn

    Sin = sin_module(torch)

    class HyenaFilter(nn.Module):
        def __init__(self, channels, emb_dim, width, seq_len):
            super().__init__()
            t = torch.linspace(0, 1, seq_len)[None, :, None]  # [1, L, 1]
            bands = (emb_dim - 1) // 2
            w = 2 * math.pi * torch.linspace(0, seq_len - 1, seq_len)[None, :, None] / seq_len
            f = torch.linspace(1e-4, bands - 1, bands)[None, None]
            zc = torch.exp(-1j * f * w)
            self.z = nn.Parameter(torch.cat([t, zc.real, zc.imag], dim=-1))  # [1, L, emb]
            self.register_buffer("t", t)
            act = Sin(width)  # one module, shared by the three activations (as safari)
            self.implicit_filter = nn.Sequential(
                nn.Linear(emb_dim, width), act,
                nn.Linear(width, width), act,
                nn.Linear(width, width), act,
                nn.Linear(width, channels, bias=False),
            )
            max_decay, min_decay = math.log(1e-2) / 0.3, math.log(1e-2) / 1.5
            self.register_buffer("deltas", torch.linspace(min_decay, max_decay, channels)[None, None])
            self.bias = nn.Parameter(torch.randn(channels))

        def filter(self, l):
            h = self.implicit_filter(self.z[:, :l])  # [1, L, C]
            return h * torch.exp(-self.t[:, :l] * self.deltas.abs()) if modulate else h

    def fftconv_ref(u, k, bias):
        seqlen = u.shape[-1]
        n = 2 * seqlen
        k_f = torch.fft.rfft(k, n=n) / n
        u_f = torch.fft.rfft(u.to(dtype=k.dtype), n=n)
        if u.dim() > 3:
            k_f = k_f.unsqueeze(1)
        y = torch.fft.irfft(u_f * k_f, n=n, norm="forward")[..., :seqlen]
        return (y + u * bias.unsqueeze(-1)).to(dtype=u.dtype)

    class HyenaOperator(nn.Module):
        def __init__(self):
            super().__init__()
            self.d, self.order = d, order
            total = d * (order + 1)
            self.out_proj = nn.Linear(d, d)
            self.in_proj = nn.Linear(d, total)
            self.short_filter = nn.Conv1d(total, total, 3, groups=total, padding=2)
            self.filter_fn = HyenaFilter(d * (order - 1), emb_dim, filter_width, l_max)
            self.dropout = nn.Dropout(0.0)

        def forward(self, u):  # u [B, L, D]
            b, l = u.shape[0], u.shape[-2]
            u = self.in_proj(u).transpose(1, 2)  # 'b l d -> b d l'
            uc = self.short_filter(u)[..., :l]
            uc = uc.view(b, 1, (self.order + 1) * self.d, 1, l)  # 'b (ho v) (z l) -> b ho v z l'
            *x, v = uc.split(self.d, dim=2)
            k = self.filter_fn.filter(l)  # [1, L, (v o)]
            k = k.view(1, l, self.d, self.order - 1).permute(0, 3, 2, 1)[0]  # 'c l (v o) -> c o v l'
            bias = self.filter_fn.bias.view(self.d, self.order - 1).t()  # '(v o) -> o v'
            for o, x_i in enumerate(reversed(x[1:])):
                v = self.dropout(v * x_i)
                v = fftconv_ref(v, k[o], bias[o, None, :, None])
            y = (v * x[0]).permute(0, 3, 4, 1, 2).reshape(b, l, self.d)  # 'b h v z l -> b (z l) (h v)'
            return self.out_proj(y)

    return HyenaOperator().to(device=device, dtype=dtype)


# ------------------------------------------------------------------------------------------------


MAX_REPS = 10_000


def wants_another(times, min_reps, sample_ms, budget_ms):
    """The stopping rule of `hyena bench` (crates/hyena-cli/src/bench.rs, `wants_another`)."""
    n = len(times)
    if n == 0:
        return True
    spent = sum(times)
    enough = n >= min_reps and spent >= sample_ms
    return not enough and n < MAX_REPS and spent + spent / n <= budget_ms


# The slower PyTorch variant of a cell is not sampled in full: once RIVAL_RUNS timed runs are all
# slower than RIVAL_FACTOR x the other variant's median, its own median cannot be the faster one
# (every run, hence the median, is above the rival's), and the remaining runs would only cost time
# (safari's nn.Conv1d backward is seconds per run at B=8, D=768).
# A variant whose estimated run (its previous length's median extrapolated, as for the estimate
# cap) exceeds RIVAL_SKIP x the other variant's median at this length is not run at all (at 2
# threads nn.Conv1d's backward takes seconds where the port's whole fwd+bwd takes ~100 ms).
RIVAL_RUNS = 2
RIVAL_FACTOR = 1.2
RIVAL_SKIP = 3.0


def clearly_slower(times, rival_ms):
    """True when at least RIVAL_RUNS runs were taken and even the fastest of them is slower than
    RIVAL_FACTOR x rival_ms."""
    return len(times) >= RIVAL_RUNS and min(times) > RIVAL_FACTOR * rival_ms


def quantile(v, q):
    """q-quantile of sorted, non-empty v, linear between ranks (as bench.rs `quantile`)."""
    x = q * (len(v) - 1)
    i = int(math.floor(x))
    f = x - i
    return v[i] + f * (v[i + 1] - v[i]) if i + 1 < len(v) else v[i]


def spread(times):
    """median, min, p25, p75 of the timed runs."""
    v = sorted(times)
    return {"median": quantile(v, 0.5), "min": v[0], "p25": quantile(v, 0.25), "p75": quantile(v, 0.75)}


class Timer:
    def __init__(self, torch, device, warmup, reps, budget_s, sample_s=0.0):
        self.torch, self.device = torch, device
        self.warmup, self.reps, self.budget_s = max(warmup, 0), max(reps, 1), budget_s
        self.sample_s = max(sample_s, 0.0)

    def once(self, fn):
        torch = self.torch
        if self.device == "cuda":
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            return s.elapsed_time(e)
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    def run(self, fn, rival_ms=None):
        """Median ms, number of timed runs, and the spread (dict of spread()). With rival_ms (the
        median of the other variant of the same quantity, just timed), sampling stops as soon as
        this one is clearly the slower: see `clearly_slower`."""
        for _ in range(self.warmup):
            self.once(fn)
        if self.device == "cuda":
            self.torch.cuda.synchronize()
        ts = []
        while wants_another(ts, self.reps, self.sample_s * 1e3, self.budget_s * 1e3):
            if rival_ms is not None and clearly_slower(ts, rival_ms):
                break
            ts.append(self.once(fn))
        sp = spread(ts)
        return sp["median"], len(ts), sp


def is_oom(torch, e):
    if isinstance(e, MemoryError):
        return True
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    return "out of memory" in str(e).lower() or "can't allocate memory" in str(e).lower()


def check_variants(torch):
    """The port (shifted products and nn.Conv1d) against safari's module with the port's weights:
    for order 2 the two parametrisations coincide (safari's (v o) channel interleave is the identity
    with one filter, its shared Sin has the same frequency 1 as the port's three). Safari computes
    the positional embedding through a complex64 exp, the port through f32 cos/sin, hence the
    tolerance 1e-6 relative (measured ~4e-9) rather than f64 rounding."""
    torch.manual_seed(0)
    d, l, ok = 64, 300, True
    s = build_safari(torch, d, 2, 16, 33, l, "cpu", torch.float64, modulate=True)
    for conv1d in (False, True):
        p = build_hyena(torch, d, 2, 16, 33, l, "cpu", torch.float64, conv1d, modulate=True)
        with torch.no_grad():
            s.in_proj.load_state_dict(p.in_proj.state_dict())
            s.out_proj.load_state_dict(p.out_proj.state_dict())
            s.short_filter.load_state_dict(p.short.state_dict())
            lp = [m for m in p.filt.ffn if isinstance(m, torch.nn.Linear)]
            ls = [m for m in s.filter_fn.implicit_filter if isinstance(m, torch.nn.Linear)]
            for x, y in zip(lp, ls):
                y.load_state_dict(x.state_dict())
            s.filter_fn.bias.copy_(p.skip.view(-1))
        u = torch.randn(2, l, d, dtype=torch.float64, requires_grad=True)
        gy = torch.randn(2, l, d, dtype=torch.float64)
        outs = []
        for m in (p, s):
            u.grad = None
            y = m(u)
            y.backward(gy)
            outs.append((y.detach(), u.grad.clone()))
        for what, i in (("y", 0), ("dL/du", 1)):
            a, b = outs[0][i], outs[1][i]
            rel = ((a - b).abs().max() / a.abs().max()).item()
            log(f"port ({'nn.Conv1d' if conv1d else 'shifted products'}) vs safari: {what} max deviation {rel:.2e} relative")
            ok &= rel < 1e-6
    return 0 if ok else 1


def main(argv=None):
    a = parse_args(argv)
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001
        log(f"torch not available: {e}")
        return 3
    if a.check_variants:
        return check_variants(torch)
    dev = a.device
    if dev == "cuda" and not torch.cuda.is_available():
        log("--device cuda but torch.cuda.is_available() is False")
        return 4
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    heads = a.width // a.head_dim
    B, D = a.batch, a.width
    timer = Timer(torch, dev, a.warmup, a.reps, a.cell_budget_secs, a.sample_secs)
    meta = {
        "torch_version": torch.__version__,
        "device": dev,
        "threads": torch.get_num_threads(),
        "fwd timing": "fwd columns under torch.no_grad() (inference); fwd+bwd with autograd",
        "port short conv": "nn.Conv1d" if a.conv1d else "shifted products (== depthwise Conv1d k=3)",
        "safari short conv": "nn.Conv1d (as the original)",
        "hyena variants": ", ".join(a.hyena_variants),
        "implicit filter": "windowed (--modulate, safari's default)" if a.modulate else "no window (modulate=False, the paper's benchmark)",
        "slower variant": f"sampling stops once {RIVAL_RUNS} runs are all > {RIVAL_FACTOR:g}x the other variant's median; "
                          f"not run when estimated > {RIVAL_SKIP:g}x it from its previous length",
    }
    results, columns = [], []

    def col(key, label, unit="ms"):
        columns.append({"key": key, "label": label, "unit": unit})

    def put(key, l, value, reps, status, sp=None):
        r = {"key": key, "L": l, "value": value, "reps": reps, "status": status}
        if sp is not None:
            r.update(min=sp["min"], p25=sp["p25"], p75=sp["p75"])
        results.append(r)
        if not a.serve:  # serving: `hyena bench` prints the rows
            shown = f"{value:.3f}" if value is not None else status
            log(f"L={l:>6} {key:<22} {shown}")

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    prev = {}

    def cell(key, l, quadratic, make_fn, rival_ms=None):
        """Build the workload with make_fn() -> callable, time it, record the cell (rival_ms: see
        Timer.run)."""
        if key in prev:
            l0, ms0 = prev[key]
            r = l / l0
            est = ms0 * r * r if quadratic else ms0 * r * math.log2(max(l, 2)) / math.log2(max(l0, 2))
            if est / 1e3 > a.max_est_secs:
                put(key, l, None, 0, f"skipped (est. > {a.max_est_secs:g} s)")
                return None
            if rival_ms is not None and est > RIVAL_SKIP * rival_ms:
                put(key, l, None, 0, f"skipped (est. {est:.0f} ms > {RIVAL_SKIP:g}x the other variant's {rival_ms:.0f} ms)")
                return None
        try:
            fn = make_fn()
            ms, reps, sp = timer.run(fn, rival_ms)
            sync()
        except Exception as e:  # noqa: BLE001
            if dev == "cuda":
                torch.cuda.empty_cache()
            if is_oom(torch, e):
                put(key, l, None, 0, "OOM")
            else:
                put(key, l, None, 0, f"error: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            return None
        finally:
            fn = None
        prev[key] = (l, ms)
        put(key, l, ms, reps, "ok", sp)
        if dev == "cuda":
            torch.cuda.empty_cache()
        return ms

    # ---------------- attention ----------------
    # (key, label, context manager factory or None) per attention variant.
    if dev == "cpu":
        att_dtype = torch.float32
        variants = [("torch_sdpa", "PyTorch SDPA causal (CPU, f32)", None)]
    else:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        att_dtype = torch.bfloat16
        variants = [("flash2", "FlashAttention-2 (PyTorch SDPA, FLASH_ATTENTION only, bf16)",
                     lambda: sdpa_kernel([SDPBackend.FLASH_ATTENTION]))]
        cudnn = getattr(SDPBackend, "CUDNN_ATTENTION", None)
        if a.no_cudnn:
            meta["cudnn attention"] = "skipped (--no-cudnn)"
        elif cudnn is None:
            meta["cudnn attention"] = f"not offered by torch {torch.__version__} (no SDPBackend.CUDNN_ATTENTION)"
        else:
            meta["cudnn attention"] = "SDPBackend.CUDNN_ATTENTION"
            variants.append(("cudnn", "cuDNN attention (PyTorch SDPA, CUDNN_ATTENTION only, bf16)",
                             lambda: sdpa_kernel([cudnn])))

    def attn_fn(l, bwd, ctx):
        def make():
            shape = (B, heads, l, a.head_dim)
            q, k, v = (torch.randn(shape, device=dev, dtype=att_dtype, requires_grad=bwd) for _ in range(3))
            go = torch.randn(shape, device=dev, dtype=att_dtype) if bwd else None

            def run():
                if bwd:
                    q.grad = k.grad = v.grad = None
                    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                    o.backward(go)
                else:
                    with torch.no_grad():
                        F.scaled_dot_product_attention(q, k, v, is_causal=True)

            if ctx is None:
                return run

            def run_ctx():
                with ctx():
                    run()

            return run_ctx

        return make

    for att_key, att_label, _ in variants:
        col(f"{att_key}_fwd", att_label + " fwd")
        if not a.fwd_only:
            col(f"{att_key}_fwdbwd", att_label + " fwd+bwd")
    if dev == "cpu":
        # Which SDPA kernel the CPU dispatcher picks (fused flash-attention CPU kernel vs math).
        try:
            from torch.profiler import ProfilerActivity, profile

            q = torch.randn(1, heads, 256, a.head_dim)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                F.scaled_dot_product_attention(q, q, q, is_causal=True)
            names = sorted({e.key for e in prof.key_averages() if "attention" in e.key or "softmax" in e.key})
            meta["sdpa_cpu_kernel"] = ", ".join(names) or "unknown"
        except Exception as e:  # noqa: BLE001
            meta["sdpa_cpu_kernel"] = f"unknown ({type(e).__name__})"
    else:
        meta["gpu"] = torch.cuda.get_device_name()

    # ---------------- Hyena ----------------
    def hyena_fn(l, bwd, variant="port"):
        def make():
            if variant == "safari":
                op = build_safari(torch, D, a.order, a.filter_width, a.emb_dim, l, dev, torch.float32, a.modulate)
            else:
                op = build_hyena(torch, D, a.order, a.filter_width, a.emb_dim, l, dev, torch.float32, a.conv1d, a.modulate)
            u = torch.randn(B, l, D, device=dev, requires_grad=bwd)
            gy = torch.randn(B, l, D, device=dev) if bwd else None

            def run():
                if bwd:
                    op.zero_grad(set_to_none=True)
                    u.grad = None
                    op(u).backward(gy)
                else:
                    with torch.no_grad():
                        op(u)

            return run

        return make

    def fftconv_fn(l):
        def make():
            n = 2 * l
            v, pre, post = (torch.randn(B, D, l, device=dev) for _ in range(3))
            h = torch.randn(D, l, device=dev) * torch.exp(-torch.arange(l, device=dev) / (l / 8))
            hf = torch.fft.rfft(h, n=n) / n
            skip = torch.randn(D, 1, device=dev)

            def run():
                with torch.no_grad():
                    x = pre * v
                    y = torch.fft.irfft(torch.fft.rfft(x, n=n) * hf, n=n, norm="forward")[..., :l]
                    return (y + skip * x) * post

            return run

        return make

    hyena_cols = []  # (key, variant, bwd)
    for variant in a.hyena_variants:
        name = "hyena" if variant == "port" else "safari"
        what = ("PyTorch Hyena operator, the bench's port (standalone, f32)" if variant == "port"
                else "PyTorch Hyena operator, safari's HyenaOperator (nn.Conv1d short conv, f32)")
        col(f"torch_{name}_fwd", what + " fwd")
        hyena_cols.append((f"torch_{name}_fwd", variant, False))
        if not a.fwd_only:
            col(f"torch_{name}_fwdbwd", what + " fwd+bwd")
            hyena_cols.append((f"torch_{name}_fwdbwd", variant, True))
    # fwd before fwd+bwd; within a quantity the variants in --hyena-variants order
    hyena_cols.sort(key=lambda c: c[2])
    copy_gbps = None
    if dev == "cuda":
        col("torch_fftconv_fwd", "PyTorch FFT conv, gated mixing core fwd (f32)")
        col("d2d_copy_gbps", "device-to-device copy bandwidth", "GB/s")
        col("fftconv_bw_pct", "torch_fftconv_fwd bytes/time as % of the copy bandwidth", "%")
        try:
            nbytes = 1 << 30
            src = torch.empty(nbytes // 4, device=dev)
            dst = torch.empty_like(src)
            ms, _, _ = timer.run(lambda: dst.copy_(src))
            copy_gbps = 2 * nbytes / (ms * 1e-3) / 1e9
            del src, dst
            torch.cuda.empty_cache()
            meta["d2d_copy"] = f"{copy_gbps:.1f} GB/s (1 GiB copy, read+write counted)"
        except Exception as e:  # noqa: BLE001
            meta["d2d_copy"] = f"failed: {type(e).__name__}"

    def at_length(l, only=None):
        """Every column's cell at length l (only those in `only` when given), in column order."""
        def want(key):
            return only is None or key in only

        for att_key, _, ctx in variants:
            if want(f"{att_key}_fwd"):
                cell(f"{att_key}_fwd", l, True, attn_fn(l, False, ctx))
            if not a.fwd_only and want(f"{att_key}_fwdbwd"):
                cell(f"{att_key}_fwdbwd", l, True, attn_fn(l, True, ctx))
        done = {}  # bwd -> median of the variant timed first at this length
        for key, variant, bwd in hyena_cols:
            if want(key):
                ms = cell(key, l, False, hyena_fn(l, bwd, variant), done.get(bwd))
                if ms is not None and bwd not in done:
                    done[bwd] = ms
        if dev == "cuda" and only is None:
            ms = cell("torch_fftconv_fwd", l, False, fftconv_fn(l))
            if copy_gbps is not None:
                put("d2d_copy_gbps", l, copy_gbps, 1, "ok")
            else:
                put("d2d_copy_gbps", l, None, 0, "error: copy not measured")
            if ms is not None and copy_gbps:
                # compulsory traffic: read v, pre, post, write y (f32) + the filter spectrum (c64)
                moved = 4 * B * D * l * 4 + D * (l + 1) * 8
                put("fftconv_bw_pct", l, 100.0 * moved / (ms * 1e-3) / 1e9 / copy_gbps, 1, "ok")
            else:
                put("fftconv_bw_pct", l, None, 0, "not measured")

    if a.serve:
        return serve(meta, columns, results, at_length)
    for l in a.lengths:
        at_length(l)
    out = {"meta": meta, "columns": columns, "results": results}
    text = json.dumps(out, indent=1)
    if a.out == "-":
        print(text)
    else:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, a.out)
    return 0


def serve(meta, columns, results, at_length):
    """The --serve protocol (module docstring): JSON lines on the original stdout, which is kept
    for them alone; fd 1 and sys.stdout are pointed at stderr so that nothing else (a library's
    print or warning) can interleave with a reply."""
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(obj):
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    reply({"meta": meta, "columns": columns})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            l = int(req["L"])
            keys = req.get("keys")
            only = None if keys is None else set(keys)
        except (ValueError, KeyError, TypeError) as e:
            reply({"error": f"bad request {line.strip()[:200]!r}: {e}"})
            continue
        n0 = len(results)
        at_length(l, only)
        reply({"results": results[n0:]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
