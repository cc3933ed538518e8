"""Error of a causal FFT convolution whose DFT stages are matrix products with operands rounded
to fp16 or bf16 and fp32 accumulation (the tensor-core route, FlashFFTConv-style), against numpy's
f64 FFT convolution. An N-point DFT by the four-step recursion N = r·M with radix-16 stages (the
last one 2 or 4): per stage a twiddle multiply in fp32, then the r x r DFT matrix product with both
operands rounded to the given type and fp32 accumulation (complex64 matmul). Arithmetic study only
(numpy on the CPU), not a kernel; docs/GPU_MODEL.md "What the targets need" quotes its output.

Usage: python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy
       /tmp/venv/bin/python scripts/tcdft-error.py 8192 65536"""
import sys
import numpy as np

def rnd(x, kind):
    if kind == "f32":
        return x.astype(np.complex64)
    if kind == "f16":
        return (x.real.astype(np.float16).astype(np.float32) + 1j * x.imag.astype(np.float16).astype(np.float32)).astype(np.complex64)
    if kind == "bf16":
        def b(a):
            a = np.ascontiguousarray(a, dtype=np.float32)
            u = a.view(np.uint32).astype(np.uint64)
            u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
            return u.astype(np.uint32).view(np.float32)
        return (b(x.real) + 1j * b(x.imag)).astype(np.complex64)
    raise ValueError(kind)

def fft_stages(x, radices, kind, inverse=False):
    """DFT of x (complex64, length N = prod(radices)) by the four-step recursion: N = r * M."""
    n = x.shape[-1]
    if len(radices) == 1:
        r = radices[0]
        k = np.arange(r)
        w = np.exp((2j if inverse else -2j) * np.pi * np.outer(k, k) / r)
        # operands rounded, products accumulated in fp32 (complex64 matmul)
        return (rnd(x, kind) @ rnd(w, kind).T).astype(np.complex64)
    r = radices[0]
    m = n // r
    # x[j1 + r*j2] -> columns: DFT over j2 (length m) for each j1, then twiddle, then DFT over j1
    xr = x.reshape(x.shape[:-1] + (m, r))          # [.., j2, j1]
    xr = np.swapaxes(xr, -1, -2)                    # [.., j1, j2]
    y = fft_stages(xr, radices[1:], kind, inverse)  # [.., j1, k2]
    j1 = np.arange(r)[:, None]
    k2 = np.arange(m)[None, :]
    tw = np.exp((2j if inverse else -2j) * np.pi * j1 * k2 / n).astype(np.complex64)
    y = (y * tw).astype(np.complex64)               # fp32 twiddles
    y = np.swapaxes(y, -1, -2)                      # [.., k2, j1]
    k = np.arange(r)
    w = np.exp((2j if inverse else -2j) * np.pi * np.outer(k, k) / r)
    z = (rnd(y, kind) @ rnd(w, kind).T).astype(np.complex64)  # [.., k2, k1]
    return np.swapaxes(z, -1, -2).reshape(x.shape[:-1] + (n,))  # X[k2 + m*k1]

def radices_for(n):
    out = []
    while n > 1:
        r = 16 if n % 16 == 0 else n
        out.append(r)
        n //= r
    return out

def conv_error(L, kind, rows, seed, scale):
    rng = np.random.default_rng(seed)
    n = 2 * L
    errs = []
    for _ in range(rows):
        u = rng.standard_normal(L)
        # a decaying filter like Hyena's (exp window times noise), h = O(1/L) energy per tap
        t = np.arange(L) / L
        h = rng.standard_normal(L) * np.exp(-t * 5.0) / np.sqrt(L)
        ref = np.fft.irfft(np.fft.rfft(u, n) * np.fft.rfft(h, n), n)[:L]
        rad = radices_for(n)
        U = fft_stages(np.concatenate([u * scale, np.zeros(L)]).astype(np.complex64), rad, kind)
        H = fft_stages(np.concatenate([h, np.zeros(L)]).astype(np.complex64), rad, kind)
        Y = (U * H).astype(np.complex64) / np.float32(n * scale)
        y = fft_stages(Y, rad, kind, inverse=True).real[:L]
        errs.append(np.linalg.norm(y - ref) / np.linalg.norm(ref))
    return max(errs)

if __name__ == "__main__":
    for L in [int(a) for a in sys.argv[1:]] or [8192, 65536]:
        for kind in ["f32", "f16", "bf16"]:
            # fp16 needs a scale that keeps the spectrum under 65504: 1/sqrt(n) on the input here
            scale = 1.0 / np.sqrt(2 * L) if kind == "f16" else 1.0
            e = conv_error(L, kind, rows=3, seed=7, scale=scale)
            print(f"L={L} n={2*L} radices={radices_for(2*L)} operands={kind}: worst rel L2 {e:.3e}")
