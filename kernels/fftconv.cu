// fftconv.cu: fused gated causal FFT convolution (the Hyena long convolution): shared-memory path
// (below) and the multi-pass four-step path for long rows (section after it).
//
//   y[b,c,:] = post ⊙ ( h[c] ∗ a + D[c]·a ),   a = pre ⊙ v[b,c,:]   (∗ causal: zero padded to n ≥ 2L)
//
// Kernels
//   hyena_fftconv_filter_{f32,bf16,f16}: one block per channel c; hf[c, k] = FFT_n(h[c] padded)[k]/n
//       for k = 0..n/2, fp32 complex [C, n/2+1] (the layout of cpu::fftconv::FftConvPlan::
//       filter_spectra). Computed once per call and reused by every batch row.
//   hyena_fftconv_fwd_{f32,bf16,f16}: one block per (b, c) row, blocks ordered channel-major
//       (blockIdx.x = c·B + b) so that the B rows sharing hf[c] run together and hit L2.
//
// FFT algorithm (real FFT of n = 2^log2n points as an m = n/2 point complex FFT):
//   load   z[j] = a[2j] + i·a[2j+1]                       (natural order, zero padded)
//   fwd    radix-2 decimation-in-frequency, in place      (natural in -> bit-reversed out)
//   pairs  for k = 0..m/2 (slots rev(k), rev(m−k)):  split Z into the real spectrum
//            X[k] = E[k] + W^k O[k],  E = (Z[k] + conj Z[m−k])/2,  O = −i (Z[k] − conj Z[m−k])/2,
//          multiply by hf, and fold the product Y back into an m-point spectrum
//            Z'[k] = (Y[k] + conj Y[m−k]) + i (Y[k] − conj Y[m−k]) conj(W^k)   (W = e^{−2πi/n});
//          the factor 2 of this fold cancels the 1/2 of an m-point inverse vs an n-point one.
//   inv    radix-2 decimation-in-time with conjugate twiddles (bit-reversed in -> natural out),
//          unnormalised: hf already carries 1/n, so z'[j] = s[2j] + i·s[2j+1] = (h ∗ a)[2j, 2j+1].
//   The two FFTs need no bit-reversal permutation. Twiddles: sincospif (accurate, ~1 ulp).
//
// Shared memory (dynamic, one block): m float2 (the spectrum, 4n bytes) + L floats (a, kept for
//   the D·a term so v and pre are read once) = 4n + 4L bytes; L = 16384, n = 32768: 192 KiB
//   (227 KiB is the sm_90 opt-in limit). The filter kernel needs 4n bytes.
//
// Cost per (b, c) row, fp32 storage: global reads v, pre, post (12 L bytes) + hf (8(n/2+1) ≈ 8L
//   bytes, shared by the B rows of a channel: L2 hits), writes y (4 L bytes). FLOPs: two m-point
//   complex FFTs 2 × 5 m log2 m (m = n/2 ≈ L) + ~20 m for the split/multiply/fold + 4 L gating:
//   ≈ 10 L log2 L FLOPs vs ~16 L DRAM bytes, i.e. ~9 FLOP/byte at L = 16K: memory-bound on H200
//   (4.3 TB/s, ~60 TFLOP/s fp32 → balance ~14 FLOP/byte) if the FFT stays in shared memory.
//   Filter kernel: 4 L bytes read + 4 n bytes written per channel, once per call.
//
// Backward (hyena_fftconv_bwd_* + hyena_fftconv_bwd_reduce_*), per (b, c) row, fp32 storage:
//   reads v, pre, post, grad_y (16 L bytes; v and pre are read again for the outputs, L2 hits),
//   hf (≈ 8 L, L2), writes grad_v, grad_pre, grad_post (12 L) and the row's spectrum G·conj(A)
//   (8(n/2+1) ≈ 8 L bytes) to the workspace; the reduce reads it once per channel and writes
//   grad_h (4 L per channel). FLOPs: four m-point FFTs (2 forward, 2 inverse) ≈ 20 L log2 L, plus
//   one inverse FFT per channel. Shared: 2 spectra = 8n bytes (+4 KiB static): L ≤ 8192.
//
// Radix-2 with one __syncthreads per stage is the simple first version (log2 m barriers per FFT);
// register-resident radix-8 stages are the obvious next optimisation.
//
// ---- Multi-pass (four-step) path: L > 16384 forward, L > 8192 backward, L ≤ 2^20 ----------------
// A full complex FFT of n = n1·n2 points in global memory (n1 = 2^⌊log2 n / 2⌋, n2 = n / n1; at
// L = 2^20: n = 2^21, n1 = 1024, n2 = 2048). Two batch rows of a channel share one complex signal
// z = a_b0 + i·a_b1 (h is real, so h ∗ z = h ∗ a_b0 + i·h ∗ a_b1): no real-FFT split is needed
// and the cost per row is that of a half complex FFT whenever B is even (odd B: the last row
// of each channel is alone, imaginary part zero). With t = n2·t1 + t2, k = k1 + n1·k2:
//   pass 1 hyena_fftconv_long_cols_*: per (channel, pair, tile of tc ≤ 16 adjacent columns t2):
//          load a = pre ⊙ v (t < L, else 0; rows t1 ≥ n1/2 are padding), n1-point DIF FFTs down
//          the columns in shared memory (n1·tc float2 ≤ 128 KiB), twiddle W_n^{t2·k1}, store to the
//          workspace ws[c, pair, r, t2] (row r holds k1 = rev(r)).
//   pass 2 hyena_fftconv_long_rows: per workspace row: n2-point DIF (k2 in bit-reversed order),
//          multiply by hf in the same layout, n2-point inverse DIT, twiddle W_n^{−t2·k1}, store.
//          The filter spectrum is passes 1 and 2 (hf = 0: scale 1/n, no inverse) run on h with
//          B = 1 straight into hf [C, n] complex: the layout is the four-step one, opaque to callers.
//   pass 3 hyena_fftconv_long_out_*: per tile: inverse n1-point DIT FFTs down the columns (t1 in
//          natural order), keep t < L, y = post ⊙ (conv + D·a) for b0 (real) and b1 (imaginary);
//          re-reads v and pre (cheaper than a third workspace round trip).
// No bit-reversal permutation anywhere; twiddle arguments k1·t2 < n ≤ 2^21 are exact in fp32.
// Cost per pair of rows, fp32 storage: pass 1 reads 16 L, writes 8n bytes; pass 2 reads 8n (+ hf
//   8n, shared by the ⌈B/2⌉ pairs of a channel: L2 hits) and writes 8n; pass 3 reads 8n + 24 L and
//   writes 8 L. Per row: 24 L bytes of inputs/outputs (v, pre read twice) + 16n of workspace
//   (2 round trips): 56 L bytes at n = 2L (L a power of two), up to 88 L at n ≈ 4L, vs 16 L for
//   the shared-memory path. FLOPs per row: one n-point complex FFT each way (5 n log2 n each,
//   halved by the pairing) + 3 complex multiplies per point ≈ 10 L log2(2L): at L = 2^20 about
//   2.2e8 FLOP vs 5.9e7 bytes, ~4 FLOP/byte: memory-bound on H200 (~14 µs per row at 4.3 TB/s).
//   Workspace (allocated by the wrapper): [C, ⌈B/2⌉, n] complex = 8·C·⌈B/2⌉·n bytes.
// Backward (hyena_fftconv_long_rows_bwd + the same column passes): pass 1 on a = pre ⊙ v (Za) and
//   on g = grad_y ⊙ post (Zg); per (channel, row r), for every pair in order: row DIFs of both,
//   acc += Zg·conj(Za) (its inverse has real part Σ_{b in pair} corr(g_b, a_b): the cross terms
//   corr(g_b1, a_b0) − corr(g_b0, a_b1) land in the imaginary part), Za·H and Zg·conj(H) inverted
//   in place; acc/n inverted into a grad_h slab [C, n]. Pass 3 then gives grad_post (on Za, gate
//   grad_y), grad_v and grad_pre (on Zg, gates pre and v), and (hyena_fftconv_long_grad_h_*, the
//   same pass over the slab) grad_h = Re(slab)[t < L] with
//   grad_D = its lag 0 (Σ_b Σ_t g·a), all deterministic (no atomics, batch order fixed). Accuracy:
//   these sums over L are not running sums but FFT correlations, whose rounding error grows like
//   u·log2 n (u = 2^-24), not u·sqrt(L): measured grad_D (filter_fn.bias) 1.2e-7 relative L2 at
//   L = 2^16 in the operator; the ⌈B/2⌉ pair spectra are summed in order (few terms). Bytes per
//   pair ≈ 2× the forward's passes 1–2 + 3 × pass 3; workspace 2 × 8·C·⌈B/2⌉·n + 8·C·n bytes (+ hf).
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include "common.cuh"
#include "hyena_params.h"

namespace hyena_fftconv {

using hyena::to_f32;
using hyena::from_f32;

__device__ inline float2 cadd(float2 a, float2 b) { return make_float2(a.x + b.x, a.y + b.y); }
__device__ inline float2 csub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }
__device__ inline float2 cmul(float2 a, float2 b) { return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }
__device__ inline float2 conjf2(float2 a) { return make_float2(a.x, -a.y); }
// exp(−iπ·num/den) for 0 ≤ num < 2·den (den a power of two: the division is exact).
__device__ inline float2 twiddle(unsigned num, unsigned den) {
    float s, c;
    sincospif(-(float)num / (float)den, &s, &c);
    return make_float2(c, s);
}
// Position of natural index k (0 ≤ k < m = 2^log2m) in the bit-reversed output of the DIF FFT.
__device__ inline unsigned rev(unsigned k, unsigned log2m) { return log2m == 0 ? 0u : __brev(k) >> (32u - log2m); }

// In-place forward DIF FFT of m = 2^log2m points: natural order in, bit-reversed out.
__device__ inline void fft_dif(float2* z, unsigned log2m) {
    const unsigned m = 1u << log2m;
    for (unsigned span = m / 2; span >= 1; span /= 2) {
        for (unsigned i = threadIdx.x; i < m / 2; i += blockDim.x) {
            const unsigned j = i & (span - 1);
            const unsigned a = 2 * (i - j) + j;  // group·2·span + j
            const unsigned b = a + span;
            const float2 u = z[a], v = z[b];
            z[a] = cadd(u, v);
            z[b] = cmul(csub(u, v), twiddle(j, span));
        }
        __syncthreads();
    }
}

// In-place inverse DIT FFT (unnormalised): bit-reversed in, natural order out.
__device__ inline void ifft_dit(float2* z, unsigned log2m) {
    const unsigned m = 1u << log2m;
    for (unsigned span = 1; span < m; span *= 2) {
        for (unsigned i = threadIdx.x; i < m / 2; i += blockDim.x) {
            const unsigned j = i & (span - 1);
            const unsigned a = 2 * (i - j) + j;
            const unsigned b = a + span;
            const float2 u = z[a];
            const float2 v = cmul(z[b], conjf2(twiddle(j, span)));
            z[a] = cadd(u, v);
            z[b] = csub(u, v);
        }
        __syncthreads();
    }
}

// The real spectrum bins X[k], X[m−k] of the n-point real signal whose m-point packed spectrum is
// Z (zk = Z[k], zmk = Z[m−k mod m]); w = W^k. For k = 0 the second result is X[m].
__device__ inline void split(float2 zk, float2 zmk, float2 w, unsigned k, float2* xk, float2* xmk) {
    if (k == 0) {
        *xk = make_float2(zk.x + zk.y, 0.f);
        *xmk = make_float2(zk.x - zk.y, 0.f);
        return;
    }
    const float2 e = make_float2(0.5f * (zk.x + zmk.x), 0.5f * (zk.y - zmk.y));  // (Z[k] + conj Z[m−k])/2
    const float2 d = make_float2(0.5f * (zk.x - zmk.x), 0.5f * (zk.y + zmk.y));  // (Z[k] − conj Z[m−k])/2
    const float2 o = make_float2(d.y, -d.x);                                       // −i·d
    const float2 wo = cmul(w, o);
    *xk = cadd(e, wo);
    // X[m−k] = conj(E[k]) − conj(W^k)·conj(O[k]) = conj(E[k] − W^k O[k])
    *xmk = conjf2(csub(e, wo));
}

template <typename T> __device__ inline void filter(const HyenaFftFilterParams p) {
    HYENA_DYN_SHARED(float2, z);
    const T* __restrict__ h = reinterpret_cast<const T*>(p.h);
    float2* __restrict__ hf = reinterpret_cast<float2*>(p.hf);
    const unsigned log2m = (unsigned)p.log2n - 1;
    const unsigned m = 1u << log2m;
    const uint64_t L = p.l;
    const uint64_t ch = blockIdx.x;
    const T* hr = h + ch * L;
    for (unsigned j = threadIdx.x; j < m; j += blockDim.x) {
        const uint64_t t = 2 * (uint64_t)j;
        const float re = t < L ? to_f32<T>(hr[t]) : 0.f;
        const float im = t + 1 < L ? to_f32<T>(hr[t + 1]) : 0.f;
        z[j] = make_float2(re, im);
    }
    __syncthreads();
    fft_dif(z, log2m);
    const float scale = 1.0f / (float)(2u * m);
    float2* out = hf + ch * (uint64_t)(m + 1);
    for (unsigned k = threadIdx.x; k <= m / 2; k += blockDim.x) {
        const unsigned mk = (m - k) & (m - 1);
        float2 xk, xmk;
        split(z[rev(k, log2m)], z[rev(mk, log2m)], twiddle(k, m), k, &xk, &xmk);
        out[k] = make_float2(xk.x * scale, xk.y * scale);
        if (k == 0) {
            out[m] = make_float2(xmk.x * scale, xmk.y * scale);
        } else if (m - k != k) {
            out[m - k] = make_float2(xmk.x * scale, xmk.y * scale);
        }
    }
}

template <typename T> __device__ inline void fwd(const HyenaFftConvFwdParams p) {
    HYENA_DYN_SHARED(float2, z);
    const unsigned log2m = (unsigned)p.log2n - 1;
    const unsigned m = 1u << log2m;
    float* a = reinterpret_cast<float*>(z + m);  // L floats after the spectrum
    const uint64_t L = p.l, B = p.b, C = p.c;
    const uint64_t ch = blockIdx.x / B, bi = blockIdx.x % B;
    const uint64_t off = (bi * C + ch) * L;
    const T* __restrict__ v = reinterpret_cast<const T*>(p.v) + off;
    const T* __restrict__ pre = p.pre ? reinterpret_cast<const T*>(p.pre) + off : nullptr;
    const T* __restrict__ post = p.post ? reinterpret_cast<const T*>(p.post) + off : nullptr;
    const float2* __restrict__ hf = reinterpret_cast<const float2*>(p.hf) + ch * (uint64_t)(m + 1);
    const float dd = to_f32<T>(reinterpret_cast<const T*>(p.d)[ch]);
    T* __restrict__ y = reinterpret_cast<T*>(p.y) + off;

    // Load a = pre ⊙ v once: packed into z (zero padded) and kept in a[] for D·a.
    for (unsigned j = threadIdx.x; j < m; j += blockDim.x) {
        const uint64_t t = 2 * (uint64_t)j;
        float re = 0.f, im = 0.f;
        if (t < L) {
            re = to_f32<T>(v[t]);
            if (pre) re *= to_f32<T>(pre[t]);
            a[t] = re;
        }
        if (t + 1 < L) {
            im = to_f32<T>(v[t + 1]);
            if (pre) im *= to_f32<T>(pre[t + 1]);
            a[t + 1] = im;
        }
        z[j] = make_float2(re, im);
    }
    __syncthreads();
    fft_dif(z, log2m);

    // Split, multiply by the filter spectrum, fold back: pair (k, m−k) per thread, in place.
    for (unsigned k = threadIdx.x; k <= m / 2; k += blockDim.x) {
        const unsigned mk = (m - k) & (m - 1);
        const unsigned rk = rev(k, log2m), rmk = rev(mk, log2m);
        const float2 w = twiddle(k, m);
        float2 xk, xmk;
        split(z[rk], z[rmk], w, k, &xk, &xmk);
        // Y[k], Y[m−k] (k = 0: Y[0], Y[m]).
        const float2 yk = cmul(xk, hf[k]);
        const float2 ymk = cmul(xmk, hf[m - k]);
        if (k == 0) {
            // Z'[0] = (Y0 + conj Ym) + i (Y0 − conj Ym)
            const float2 e = cadd(yk, conjf2(ymk));
            const float2 o = csub(yk, conjf2(ymk));
            z[0] = make_float2(e.x - o.y, e.y + o.x);
        } else {
            // Z'[k] = (Y[k] + conj Y[m−k]) + i (Y[k] − conj Y[m−k]) conj(W^k)
            const float2 e1 = cadd(yk, conjf2(ymk));
            const float2 o1 = cmul(csub(yk, conjf2(ymk)), conjf2(w));
            // Z'[m−k] = (Y[m−k] + conj Y[k]) + i (Y[m−k] − conj Y[k]) conj(W^{m−k}), conj(W^{m−k}) = −W^k
            const float2 e2 = cadd(ymk, conjf2(yk));
            const float2 o2 = cmul(csub(ymk, conjf2(yk)), make_float2(-w.x, -w.y));
            z[rk] = make_float2(e1.x - o1.y, e1.y + o1.x);
            if (mk != k) z[rmk] = make_float2(e2.x - o2.y, e2.y + o2.x);
        }
    }
    __syncthreads();
    ifft_dit(z, log2m);

    // y = post ⊙ (conv + D·a): one write.
    for (unsigned j = threadIdx.x; j < m; j += blockDim.x) {
        const uint64_t t = 2 * (uint64_t)j;
        if (t >= L) continue;
        const float2 s = z[j];
        float y0 = s.x + dd * a[t];
        if (post) y0 *= to_f32<T>(post[t]);
        y[t] = from_f32<T>(y0);
        if (t + 1 < L) {
            float y1 = s.y + dd * a[t + 1];
            if (post) y1 *= to_f32<T>(post[t + 1]);
            y[t + 1] = from_f32<T>(y1);
        }
    }
}

// Fold the real-spectrum pair Y[k], Y[m−k] (k = 0: Y[0], Y[m]) into the packed m-point spectrum
// bins Z'[k], Z'[m−k] (see the header; k = 0 gives only Z'[0] in *zk).
__device__ inline void fold(float2 yk, float2 ymk, float2 w, unsigned k, float2* zk, float2* zmk) {
    if (k == 0) {
        const float2 e = cadd(yk, conjf2(ymk));
        const float2 o = csub(yk, conjf2(ymk));
        *zk = make_float2(e.x - o.y, e.y + o.x);
        *zmk = *zk;
        return;
    }
    const float2 e1 = cadd(yk, conjf2(ymk));
    const float2 o1 = cmul(csub(yk, conjf2(ymk)), conjf2(w));
    const float2 e2 = cadd(ymk, conjf2(yk));
    const float2 o2 = cmul(csub(ymk, conjf2(yk)), make_float2(-w.x, -w.y));
    *zk = make_float2(e1.x - o1.y, e1.y + o1.x);
    *zmk = make_float2(e2.x - o2.y, e2.y + o2.x);
}

// Threads per block of the backward kernels are at most this (static reduction buffer).
#define HYENA_FFTCONV_MAX_BLOCK 512

// Backward, one block per (b, c) row. Shared: zA (m float2: A = FFT(a), then the recomputed
// convolution h ∗ a) and zG (m float2: G = FFT(g), then grad of a before the D term).
template <typename T> __device__ inline void bwd_rows(const HyenaFftConvBwdParams p) {
    HYENA_DYN_SHARED(float2, za);
    __shared__ double red[HYENA_FFTCONV_MAX_BLOCK];
    const unsigned log2m = (unsigned)p.log2n - 1;
    const unsigned m = 1u << log2m;
    float2* zg = za + m;
    const uint64_t L = p.l, B = p.b, C = p.c;
    const uint64_t ch = blockIdx.x / B, bi = blockIdx.x % B;
    const uint64_t off = (bi * C + ch) * L;
    const T* __restrict__ v = reinterpret_cast<const T*>(p.v) + off;
    const T* __restrict__ pre = p.pre ? reinterpret_cast<const T*>(p.pre) + off : nullptr;
    const T* __restrict__ post = p.post ? reinterpret_cast<const T*>(p.post) + off : nullptr;
    const T* __restrict__ gy = reinterpret_cast<const T*>(p.grad_y) + off;
    const float2* __restrict__ hf = reinterpret_cast<const float2*>(p.hf) + ch * (uint64_t)(m + 1);
    const float dd = to_f32<T>(reinterpret_cast<const T*>(p.d)[ch]);
    float2* __restrict__ ws = reinterpret_cast<float2*>(p.ws) + (uint64_t)blockIdx.x * (m + 1);

    // Load a = pre ⊙ v and g = grad_y ⊙ post (packed, zero padded); partial sum of g·a, in fp64
    // (the products of fp32 values are exact there; see bwd_reduce for the accuracy argument).
    double gd = 0.0;
    for (unsigned j = threadIdx.x; j < m; j += blockDim.x) {
        float av[2] = {0.f, 0.f}, gv[2] = {0.f, 0.f};
        for (int q = 0; q < 2; ++q) {
            const uint64_t t = 2 * (uint64_t)j + q;
            if (t < L) {
                av[q] = to_f32<T>(v[t]);
                if (pre) av[q] *= to_f32<T>(pre[t]);
                gv[q] = to_f32<T>(gy[t]);
                if (post) gv[q] *= to_f32<T>(post[t]);
                gd = fma((double)gv[q], (double)av[q], gd);
            }
        }
        za[j] = make_float2(av[0], av[1]);
        zg[j] = make_float2(gv[0], gv[1]);
    }
    red[threadIdx.x] = gd;
    __syncthreads();
    fft_dif(za, log2m);
    fft_dif(zg, log2m);
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) red[threadIdx.x] += red[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) reinterpret_cast<float*>(p.ws_d)[blockIdx.x] = (float)red[0];

    // Per pair (k, m−k): A, G; conv spectrum A·H and grad spectrum G·conj(H) folded back in
    // place; the grad_h partial G·conj(A) written to ws (bins k and m−k; k = 0: 0 and m).
    for (unsigned k = threadIdx.x; k <= m / 2; k += blockDim.x) {
        const unsigned mk = (m - k) & (m - 1);
        const unsigned rk = rev(k, log2m), rmk = rev(mk, log2m);
        const float2 w = twiddle(k, m);
        float2 ak, amk, gk, gmk;
        split(za[rk], za[rmk], w, k, &ak, &amk);
        split(zg[rk], zg[rmk], w, k, &gk, &gmk);
        const float2 hk = hf[k], hmk = hf[m - k];
        ws[k] = cmul(gk, conjf2(ak));
        if (k == 0 || mk != k) ws[m - k] = cmul(gmk, conjf2(amk));
        float2 z1, z2;
        fold(cmul(ak, hk), cmul(amk, hmk), w, k, &z1, &z2);
        za[rk] = z1;
        if (k != 0 && mk != k) za[rmk] = z2;
        fold(cmul(gk, conjf2(hk)), cmul(gmk, conjf2(hmk)), w, k, &z1, &z2);
        zg[rk] = z1;
        if (k != 0 && mk != k) zg[rmk] = z2;
    }
    __syncthreads();
    ifft_dit(za, log2m);
    ifft_dit(zg, log2m);

    T* __restrict__ gv_out = reinterpret_cast<T*>(p.grad_v) + off;
    T* __restrict__ gpre = p.grad_pre ? reinterpret_cast<T*>(p.grad_pre) + off : nullptr;
    T* __restrict__ gpost = p.grad_post ? reinterpret_cast<T*>(p.grad_post) + off : nullptr;
    for (unsigned j = threadIdx.x; j < m; j += blockDim.x) {
        const float2 conv = za[j], corr = zg[j];
        for (int q = 0; q < 2; ++q) {
            const uint64_t t = 2 * (uint64_t)j + q;
            if (t >= L) break;
            const float vt = to_f32<T>(v[t]);
            const float pt = pre ? to_f32<T>(pre[t]) : 1.f;
            const float at = vt * pt;
            const float gyt = to_f32<T>(gy[t]);
            const float gt = post ? gyt * to_f32<T>(post[t]) : gyt;
            const float ga = (q ? corr.y : corr.x) + dd * gt;
            gv_out[t] = from_f32<T>(ga * pt);
            if (gpre) gpre[t] = from_f32<T>(ga * vt);
            if (gpost) gpost[t] = from_f32<T>(gyt * ((q ? conv.y : conv.x) + dd * at));
        }
    }
}

// One block per channel: sum the B partial spectra in order, inverse FFT -> grad_h; grad_D.
// Accuracy of the sums over the batch and the sequence: grad_D = Σ_b Σ_t g·a is an fp64 sum per
// row (bwd_rows: per-thread fp64 sums of exact fp64 products, an fp64 tree; error < 2^-40 of
// Σ|g·a| at L = 8192), rounded once to fp32 in ws_d, then the B row sums in fp64 and one rounding
// on store: ≈ 2 ulps whatever B·L. The spectra are summed over B in fp64 too (one rounding per
// bin), so grad_h = IFFT(Σ_b G·conj(A)) carries only the FFTs' O(u·log2 n) error.
template <typename T> __device__ inline void bwd_reduce(const HyenaFftConvBwdParams p) {
    HYENA_DYN_SHARED(float2, z);
    const unsigned log2m = (unsigned)p.log2n - 1;
    const unsigned m = 1u << log2m;
    const uint64_t L = p.l, B = p.b;
    const uint64_t ch = blockIdx.x;
    const float2* __restrict__ ws = reinterpret_cast<const float2*>(p.ws) + ch * B * (uint64_t)(m + 1);
    const float inv_n = 1.0f / (float)(2u * m);
    for (unsigned k = threadIdx.x; k <= m / 2; k += blockDim.x) {
        const unsigned mk = (m - k) & (m - 1);
        double skx = 0.0, sky = 0.0, smkx = 0.0, smky = 0.0;
        for (uint64_t b = 0; b < B; ++b) {
            const float2 u = ws[b * (m + 1) + k], v = ws[b * (m + 1) + (m - k)];
            skx += (double)u.x;
            sky += (double)u.y;
            smkx += (double)v.x;
            smky += (double)v.y;
        }
        const float2 sk = make_float2((float)skx * inv_n, (float)sky * inv_n);
        const float2 smk = make_float2((float)smkx * inv_n, (float)smky * inv_n);
        float2 z1, z2;
        fold(sk, smk, twiddle(k, m), k, &z1, &z2);
        z[rev(k, log2m)] = z1;
        if (k != 0 && mk != k) z[rev(mk, log2m)] = z2;
    }
    __syncthreads();
    ifft_dit(z, log2m);
    T* __restrict__ gh = reinterpret_cast<T*>(p.grad_h) + ch * L;
    for (unsigned j = threadIdx.x; j < m; j += blockDim.x) {
        const uint64_t t = 2 * (uint64_t)j;
        if (t < L) gh[t] = from_f32<T>(z[j].x);
        if (t + 1 < L) gh[t + 1] = from_f32<T>(z[j].y);
    }
    if (threadIdx.x == 0) {
        const float* wd = reinterpret_cast<const float*>(p.ws_d) + ch * B;
        double s = 0.0;
        for (uint64_t b = 0; b < B; ++b) s += (double)wd[b];
        reinterpret_cast<T*>(p.grad_d)[ch] = from_f32<T>((float)s);
    }
}


// ---- Multi-pass (four-step) path for long rows ---------------------------------------------------
// n = n1·n2, t = n2·t1 + t2, k = k1 + n1·k2:  W_n^{tk} = W_{n1}^{t1 k1} · W_n^{t2 k1} · W_{n2}^{t2 k2}.
// The complex signal of a pair of batch rows (b0 = 2·pr, b1 = 2·pr + 1 of one channel) is
// z = a_b0 + i·a_b1 (a real: h ∗ z = h ∗ a_b0 + i·h ∗ a_b1, so one complex FFT serves two rows).
// Workspace row-major [n1][n2]: row r holds k1 = rev(r) (column DIF output order), entry j of a
// row holds t2 = j after pass 1 and k2 = rev(j) after the row DIF (pass 2).

// Column FFT over the n1 rows of a tile s[r·tc + c] (tc = 2^log2tc columns), DIF, in place.
__device__ inline void fft_dif_cols(float2* s, unsigned log2n1, unsigned log2tc) {
    const unsigned n1 = 1u << log2n1, tc = 1u << log2tc;
    for (unsigned span = n1 / 2; span >= 1; span /= 2) {
        for (unsigned i = threadIdx.x; i < (n1 / 2) * tc; i += blockDim.x) {
            const unsigned c = i & (tc - 1), bi = i >> log2tc;
            const unsigned j = bi & (span - 1);
            const unsigned a = (2 * (bi - j) + j) * tc + c;
            const unsigned b = a + span * tc;
            const float2 u = s[a], v = s[b];
            s[a] = cadd(u, v);
            s[b] = cmul(csub(u, v), twiddle(j, span));
        }
        __syncthreads();
    }
}

// Column inverse FFT (DIT, conjugate twiddles, unnormalised), bit-reversed rows in, natural out.
__device__ inline void ifft_dit_cols(float2* s, unsigned log2n1, unsigned log2tc) {
    const unsigned n1 = 1u << log2n1, tc = 1u << log2tc;
    for (unsigned span = 1; span < n1; span *= 2) {
        for (unsigned i = threadIdx.x; i < (n1 / 2) * tc; i += blockDim.x) {
            const unsigned c = i & (tc - 1), bi = i >> log2tc;
            const unsigned j = bi & (span - 1);
            const unsigned a = (2 * (bi - j) + j) * tc + c;
            const unsigned b = a + span * tc;
            const float2 u = s[a];
            const float2 v = cmul(s[b], conjf2(twiddle(j, span)));
            s[a] = cadd(u, v);
            s[b] = csub(u, v);
        }
        __syncthreads();
    }
}

// Block -> (channel, pair, column tile) of the column passes; blockIdx.x = (ch·P + pr)·nb + cb.
struct LongTile {
    uint64_t ch, pr, rowid;  // rowid = ch·P + pr: the workspace slab
    unsigned col0;           // first column t2 of the tile
    bool has1;               // the pair's second row b1 = 2·pr + 1 exists
};
__device__ inline LongTile long_tile(const HyenaFftConvLongParams& p) {
    const unsigned nb = (1u << p.log2n2) >> p.log2tile;
    const uint64_t P = (p.b + 1) / 2;
    LongTile t;
    t.rowid = blockIdx.x / nb;
    t.col0 = (unsigned)(blockIdx.x % nb) << p.log2tile;
    t.ch = t.rowid / P;
    t.pr = t.rowid % P;
    t.has1 = 2 * t.pr + 1 < p.b;
    return t;
}

// Pass 1: a = pre ⊙ v of rows b0, b1 (zero padded to n), n1-point FFTs down the tile's columns,
// twiddle W_n^{t2·k1}, store to ws[rowid][r][t2]. (Filter: v = h, B = 1, pre = 0, ws = hf.)
template <typename T> __device__ inline void long_cols(const HyenaFftConvLongParams p) {
    HYENA_DYN_SHARED(float2, s);
    const unsigned log2n1 = (unsigned)p.log2n1, log2tc = (unsigned)p.log2tile;
    const unsigned n1 = 1u << log2n1, n2 = 1u << p.log2n2, tc = 1u << log2tc;
    const uint64_t n = (uint64_t)n1 * n2, L = p.l, C = p.c;
    const LongTile tl = long_tile(p);
    const uint64_t off0 = (2 * tl.pr * C + tl.ch) * L, off1 = off0 + C * L;
    const T* __restrict__ v = reinterpret_cast<const T*>(p.v);
    const T* __restrict__ pre = p.pre ? reinterpret_cast<const T*>(p.pre) : nullptr;
    // Rows t1 ≥ n1/2 are padding (t ≥ n/2 ≥ L).
    for (unsigned i = threadIdx.x; i < n1 * tc; i += blockDim.x) {
        const unsigned r = i >> log2tc, c = i & (tc - 1);
        const uint64_t t = (uint64_t)r * n2 + tl.col0 + c;
        float re = 0.f, im = 0.f;
        if (t < L) {
            re = to_f32<T>(v[off0 + t]);
            if (pre) re *= to_f32<T>(pre[off0 + t]);
            if (tl.has1) {
                im = to_f32<T>(v[off1 + t]);
                if (pre) im *= to_f32<T>(pre[off1 + t]);
            }
        }
        s[i] = make_float2(re, im);
    }
    __syncthreads();
    fft_dif_cols(s, log2n1, log2tc);
    float2* __restrict__ ws = reinterpret_cast<float2*>(p.ws) + tl.rowid * n;
    const unsigned half_n = (unsigned)(n / 2);
    for (unsigned i = threadIdx.x; i < n1 * tc; i += blockDim.x) {
        const unsigned r = i >> log2tc, c = i & (tc - 1);
        const unsigned t2 = tl.col0 + c;
        ws[(uint64_t)r * n2 + t2] = cmul(s[i], twiddle(rev(r, log2n1) * t2, half_n));
    }
}

// Pass 2, one block per workspace row (blockIdx.x = (ch·n1 + r)·P + pr): n2-point DIF FFT; no
// spectrum (hf = 0, the filter): scale by 1/n and store (bit-reversed k2 order: the spectrum
// layout); else multiply by the spectrum (same layout), inverse DIT FFT, twiddle W_n^{−t2·k1}, store.
__device__ inline void long_rows(const HyenaFftConvLongParams p) {
    HYENA_DYN_SHARED(float2, z);
    const unsigned log2n1 = (unsigned)p.log2n1, log2n2 = (unsigned)p.log2n2;
    const unsigned n1 = 1u << log2n1, n2 = 1u << log2n2;
    const uint64_t n = (uint64_t)n1 * n2;
    const uint64_t P = (p.b + 1) / 2;
    const uint64_t pr = blockIdx.x % P, cr = blockIdx.x / P;
    const unsigned r = (unsigned)(cr % n1);
    const uint64_t ch = cr / n1;
    float2* __restrict__ row = reinterpret_cast<float2*>(p.ws) + (ch * P + pr) * n + (uint64_t)r * n2;
    for (unsigned j = threadIdx.x; j < n2; j += blockDim.x) z[j] = row[j];
    __syncthreads();
    fft_dif(z, log2n2);
    if (!p.hf) {
        const float scale = 1.0f / (float)n;
        for (unsigned j = threadIdx.x; j < n2; j += blockDim.x) row[j] = make_float2(z[j].x * scale, z[j].y * scale);
        return;
    }
    const float2* __restrict__ hrow = reinterpret_cast<const float2*>(p.hf) + ch * n + (uint64_t)r * n2;
    for (unsigned j = threadIdx.x; j < n2; j += blockDim.x) z[j] = cmul(z[j], hrow[j]);
    __syncthreads();
    ifft_dit(z, log2n2);
    const unsigned k1 = rev(r, log2n1), half_n = (unsigned)(n / 2);
    for (unsigned j = threadIdx.x; j < n2; j += blockDim.x) row[j] = cmul(z[j], conjf2(twiddle(k1 * j, half_n)));
}

// Backward pass 2, one block per (channel, workspace row r), blockIdx.x = ch·n1 + r. For every
// pair pr in order: row DIFs of Za = A_b0 + i·A_b1 (ws, from pass 1 on a = pre ⊙ v) and
// Zg = G_b0 + i·G_b1 (ws_g, pass 1 on g = grad_y ⊙ post); acc += Zg·conj(Za), whose inverse has real
// part Σ_b corr(g_b, a_b) (the cross terms land in the imaginary part); Za·H (conv, for grad_post)
// and Zg·conj(H) (correlation, for grad_a) inverted and twiddled in place. Then acc/n inverted and
// twiddled into hw [C, n] (the grad_h slab). Shared memory: 3 rows of n2 float2.
__device__ inline void long_rows_bwd(const HyenaFftConvLongBwdParams pb) {
    const HyenaFftConvLongParams& p = pb.fwd;
    HYENA_DYN_SHARED(float2, za);
    const unsigned log2n1 = (unsigned)p.log2n1, log2n2 = (unsigned)p.log2n2;
    const unsigned n1 = 1u << log2n1, n2 = 1u << log2n2;
    float2* zg = za + n2;
    float2* acc = zg + n2;
    const uint64_t n = (uint64_t)n1 * n2;
    const uint64_t P = (p.b + 1) / 2;
    const unsigned r = (unsigned)(blockIdx.x % n1);
    const uint64_t ch = blockIdx.x / n1;
    const unsigned k1 = rev(r, log2n1), half_n = (unsigned)(n / 2);
    const float2* __restrict__ hrow = reinterpret_cast<const float2*>(p.hf) + ch * n + (uint64_t)r * n2;
    for (unsigned j = threadIdx.x; j < n2; j += blockDim.x) acc[j] = make_float2(0.f, 0.f);
    for (uint64_t pr = 0; pr < P; ++pr) {
        float2* __restrict__ ra = reinterpret_cast<float2*>(p.ws) + (ch * P + pr) * n + (uint64_t)r * n2;
        float2* __restrict__ rg = reinterpret_cast<float2*>(pb.ws_g) + (ch * P + pr) * n + (uint64_t)r * n2;
        for (unsigned j = threadIdx.x; j < n2; j += blockDim.x) {
            za[j] = ra[j];
            zg[j] = rg[j];
        }
        __syncthreads();
        fft_dif(za, log2n2);
        fft_dif(zg, log2n2);
        for (unsigned j = threadIdx.x; j < n2; j += blockDim.x) {
            const float2 a = za[j], g = zg[j], h = hrow[j];
            acc[j] = cadd(acc[j], cmul(g, conjf2(a)));
            za[j] = cmul(a, h);
            zg[j] = cmul(g, conjf2(h));
        }
        __syncthreads();
        ifft_dit(za, log2n2);
        ifft_dit(zg, log2n2);
        for (unsigned j = threadIdx.x; j < n2; j += blockDim.x) {
            const float2 w = conjf2(twiddle(k1 * j, half_n));
            ra[j] = cmul(za[j], w);
            rg[j] = cmul(zg[j], w);
        }
    }
    const float inv_n = 1.0f / (float)n;
    for (unsigned j = threadIdx.x; j < n2; j += blockDim.x) acc[j] = make_float2(acc[j].x * inv_n, acc[j].y * inv_n);
    __syncthreads();
    ifft_dit(acc, log2n2);
    float2* __restrict__ hw = reinterpret_cast<float2*>(pb.slab) + ch * n + (uint64_t)r * n2;
    for (unsigned j = threadIdx.x; j < n2; j += blockDim.x) hw[j] = cmul(acc[j], conjf2(twiddle(k1 * j, half_n)));
}

// Pass 3: inverse n1-point FFTs down the tile's columns (bit-reversed rows in, t1 natural out);
// keep t = n2·t1 + t2 < L; y = post ⊙ (conv + D·a) for rows b0 (real part) and b1 (imaginary).
// With grad_d (the backward's grad_h pass, p.b = 1, p.ws = the slab): y = the real part, and its
// lag 0 to grad_d.
template <typename T> __device__ inline void long_out(const HyenaFftConvLongParams p, T* grad_d = nullptr) {
    HYENA_DYN_SHARED(float2, s);
    const unsigned log2n1 = (unsigned)p.log2n1, log2tc = (unsigned)p.log2tile;
    const unsigned n1 = 1u << log2n1, n2 = 1u << p.log2n2, tc = 1u << log2tc;
    const uint64_t n = (uint64_t)n1 * n2, L = p.l, C = p.c;
    const LongTile tl = long_tile(p);
    const float2* __restrict__ ws = reinterpret_cast<const float2*>(p.ws) + tl.rowid * n;
    for (unsigned i = threadIdx.x; i < n1 * tc; i += blockDim.x) {
        const unsigned r = i >> log2tc, c = i & (tc - 1);
        s[i] = ws[(uint64_t)r * n2 + tl.col0 + c];
    }
    __syncthreads();
    ifft_dit_cols(s, log2n1, log2tc);
    const uint64_t off0 = (2 * tl.pr * C + tl.ch) * L, off1 = off0 + C * L;
    const T* __restrict__ v = reinterpret_cast<const T*>(p.v);
    const T* __restrict__ pre = p.pre ? reinterpret_cast<const T*>(p.pre) : nullptr;
    const T* __restrict__ post = p.post ? reinterpret_cast<const T*>(p.post) : nullptr;
    T* __restrict__ y = reinterpret_cast<T*>(p.y);
    const float dd = p.d ? to_f32<T>(reinterpret_cast<const T*>(p.d)[tl.ch]) : 0.f;
    for (unsigned i = threadIdx.x; i < (n1 / 2) * tc; i += blockDim.x) {
        const unsigned r = i >> log2tc, c = i & (tc - 1);
        const uint64_t t = (uint64_t)r * n2 + tl.col0 + c;
        if (t >= L) continue;
        const float2 conv = s[i];
        if (grad_d) {
            // grad_h [C, L] = real part of the batch-summed correlation; lag 0 is grad_D[c].
            y[off0 + t] = from_f32<T>(conv.x);
            if (t == 0) grad_d[tl.ch] = from_f32<T>(conv.x);
            continue;
        }
        float a0 = to_f32<T>(v[off0 + t]);
        if (pre) a0 *= to_f32<T>(pre[off0 + t]);
        float y0 = conv.x + dd * a0;
        if (post) y0 *= to_f32<T>(post[off0 + t]);
        y[off0 + t] = from_f32<T>(y0);
        if (tl.has1) {
            float a1 = to_f32<T>(v[off1 + t]);
            if (pre) a1 *= to_f32<T>(pre[off1 + t]);
            float y1 = conv.y + dd * a1;
            if (post) y1 *= to_f32<T>(post[off1 + t]);
            y[off1 + t] = from_f32<T>(y1);
        }
    }
}

// Backward: grad_h and grad_D from the slab rows_bwd wrote (pass 3 with the slab as one batch row).
template <typename T> __device__ inline void long_grad_h(const HyenaFftConvLongBwdParams pb) {
    HyenaFftConvLongParams p = pb.fwd;
    p.v = p.pre = p.post = p.d = 0;
    p.b = 1;
    p.ws = pb.slab;
    p.y = pb.grad_h;
    long_out<T>(p, reinterpret_cast<T*>(pb.grad_d));
}

}  // namespace hyena_fftconv

extern "C" __global__ void hyena_fftconv_filter_f32(const HyenaFftFilterParams p) { hyena_fftconv::filter<float>(p); }
extern "C" __global__ void hyena_fftconv_filter_bf16(const HyenaFftFilterParams p) { hyena_fftconv::filter<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_fftconv_filter_f16(const HyenaFftFilterParams p) { hyena_fftconv::filter<__half>(p); }
extern "C" __global__ void hyena_fftconv_fwd_f32(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<float>(p); }
extern "C" __global__ void hyena_fftconv_fwd_bf16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_fftconv_fwd_f16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__half>(p); }
extern "C" __global__ void hyena_fftconv_bwd_f32(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<float>(p); }
extern "C" __global__ void hyena_fftconv_bwd_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_fftconv_bwd_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<__half>(p); }
extern "C" __global__ void hyena_fftconv_bwd_reduce_f32(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_reduce<float>(p); }
extern "C" __global__ void hyena_fftconv_bwd_reduce_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_reduce<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_fftconv_bwd_reduce_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_reduce<__half>(p); }
extern "C" __global__ void hyena_fftconv_long_cols_f32(const HyenaFftConvLongParams p) { hyena_fftconv::long_cols<float>(p); }
extern "C" __global__ void hyena_fftconv_long_cols_bf16(const HyenaFftConvLongParams p) { hyena_fftconv::long_cols<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_fftconv_long_cols_f16(const HyenaFftConvLongParams p) { hyena_fftconv::long_cols<__half>(p); }
extern "C" __global__ void hyena_fftconv_long_rows(const HyenaFftConvLongParams p) { hyena_fftconv::long_rows(p); }
extern "C" __global__ void hyena_fftconv_long_rows_bwd(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_rows_bwd(p); }
extern "C" __global__ void hyena_fftconv_long_out_f32(const HyenaFftConvLongParams p) { hyena_fftconv::long_out<float>(p); }
extern "C" __global__ void hyena_fftconv_long_out_bf16(const HyenaFftConvLongParams p) { hyena_fftconv::long_out<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_fftconv_long_out_f16(const HyenaFftConvLongParams p) { hyena_fftconv::long_out<__half>(p); }
extern "C" __global__ void hyena_fftconv_long_grad_h_f32(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_h<float>(p); }
extern "C" __global__ void hyena_fftconv_long_grad_h_bf16(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_h<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_fftconv_long_grad_h_f16(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_h<__half>(p); }

// Every block of these kernels does the same work (one channel, or one (channel, batch) row, of
// the same length): the simulator may count a sample of blocks and scale (SimDevice::set_block_sample).
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_filter_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_filter_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_filter_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_f16);
// The four-step (long) path: one column tile, row or output tile per block, all of one size.
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_cols_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_cols_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_cols_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_rows);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_rows_bwd);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_out_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_out_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_out_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_h_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_h_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_h_f16);
