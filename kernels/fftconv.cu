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
//   fwd    Stockham autosort FFT, radix-16 passes in registers (natural in -> natural out; the
//          section "Shared-memory path" below has the passes, barriers, twiddles and banks)
//   pairs  for k = 0..m/2:  split Z into the real spectrum
//            X[k] = E[k] + W^k O[k],  E = (Z[k] + conj Z[m−k])/2,  O = −i (Z[k] − conj Z[m−k])/2,
//          multiply by hf, and fold the product Y back into an m-point spectrum
//            Z'[k] = (Y[k] + conj Y[m−k]) + i (Y[k] − conj Y[m−k]) conj(W^k)   (W = e^{−2πi/n});
//          the factor 2 of this fold cancels the 1/2 of an m-point inverse vs an n-point one. Bins
//          k and m−k sit in the registers of one thread after the last forward pass: no shared
//          round trip for the split.
//   inv    the same Stockham passes with conjugate twiddles, unnormalised: hf already carries 1/n,
//          so z'[j] = s[2j] + i·s[2j+1] = (h ∗ a)[2j, 2j+1].
//   Twiddles from a per-block shared table, no transcendental per butterfly: every kernel of this
//   path copies it from the precomputed global table (load_tw, kernels/fftconv_tw.cuh).
//   The first and last passes (the forward's; the backward runs them on each of its buffers)
//   skip the zero half of the padded signal (n ≥ 2L) and issue a butterfly's loads back to back
//   (fwd_p0, fwd_last).
//
// Shared memory (dynamic, one block): the spectrum as two float planes (4n bytes) + L floats (a,
//   kept for the D·a term so v and pre are read once, as even/odd planes) = 4n + 4L bytes;
//   + 7 KiB static (twiddle table): at most 96 KiB (L = 8192, n = 16384, the path's longest row:
//   ops::fftconv::SMEM_MAX_LEN; longer rows, forward and backward, take the multi-pass path). The
//   filter kernel needs 4n bytes (m/16 threads, one butterfly each; see filter).
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
//   one inverse FFT per channel. Shared: 2 spectra = 8n bytes (+7 KiB static): L ≤ 8192.
//
// bwd_rows runs the FFTs of a and g between the same barriers, one buffer after the other within
// each pass (one butterfly in registers at a time: 128 registers, no spills).
// bwd_reduce (one inverse FFT per channel) runs the same Stockham inverse passes.
// The two-block shapes (2-byte storage, 4K < L ≤ 8K among them) split the row kernel in two of one
// spectrum each (bwd_a_two, bwd_g_two: 64 registers, two blocks per SM), A's bins carried through
// the workspace: + 16(n/2 + 1) bytes per row of traffic for twice the resident warps. Given the
// forward's `inner` (the operator keeps it there), A's kernel is one FFT (bwd_a_spec); given also
// the forward's A bins (hyena_fftconv_fwd_2b_inner_spec_*, ops::fftconv::a_spectrum_pays: 8(m + 1)
// bytes per row written by the forward), no A kernel runs: bwd_g_two reads them (p.aspec).
// At m = 2^13 (4K < L ≤ 8K) and 2^12 (2K < L ≤ 4K), 2-byte storage, the path's kernels are also
// built with their length at compile time (the *_m13 and *_m12 kernels, HYENA_FFTCONV_MC_TWO/_4K).
//
// ---- Multi-pass (four-step) path: L > 8192, forward and backward, L ≤ 2^22 -----------------------
// A full complex FFT of n = n1·n2 points in global memory (n2 = 4096: radix-16 row passes only;
// n1 = n/4096: 8 at L = 8193, 32 at L = 2^16, 512 at L = 2^20). Two channels of a batch row share
// one complex signal z = a_ch + i·a_ch+1 (adjacent rows of [B, C, L]), so the cost per row is that
// of a half complex FFT whenever C is even, at every B, B = 1 included (the paper's benchmark
// setting; an odd C leaves its last channel alone, imaginary part zero). The two channels have
// different filters, so the row pass splits Z by symmetry (X_ch[k] = (Z[k] + conj Z[n−k])/2,
// X_ch+1[k] = (Z[k] − conj Z[n−k])/2i) before the product and joins the two products back into
// one complex spectrum; bin n − k lives in the mirror row, so a row block holds a row and its
// mirror (lrow::Mirror). With t = n2·t1 + t2, k = k1 + n1·k2:
//   pass 1 hyena_fftconv_long_cols_*: per (channel pair, batch row, tile of tc adjacent columns t2):
//          load a = pre ⊙ v (t < L, else 0; rows t1 ≥ n1/2 are padding), n1-point DIF FFTs down
//          the columns (registers at n1 ≤ 32, else a shared tile of n1·tc complex ≤ 128 KiB),
//          twiddle W_n^{t2·k1}, store to the workspace ws[cp, b, r, t2] (row r holds k1 = rev(r)).
//   pass 2 hyena_fftconv_long_rows: per pair of mirror rows: n2-point FFTs (Stockham radix-16
//          passes in registers, natural k2 order), split, multiply by the pair's filter spectra,
//          join, n2-point inverse FFTs, twiddle W_n^{−t2·k1}, store.
//          The filter spectrum is passes 1 and 2 (hf = 0: scale 1/(4n), no split, no inverse) run
//          on h with B = 1 straight into hf [⌈C/2⌉, n] complex: W = FFT(h_ch + i·h_ch+1)/(4n), the
//          four-step layout, opaque to callers (it serves only the channels it was made for).
//   pass 3 hyena_fftconv_long_out_*: per tile: inverse n1-point DIT FFTs down the columns (t1 in
//          natural order), keep t < L, y = post ⊙ (conv + D·a) for ch (real) and ch + 1 (imaginary);
//          re-reads v and pre (cheaper than a third workspace round trip).
// No bit-reversal permutation anywhere. Every twiddle (the column stages', the row passes' and
// W_n^{k1·t2}) comes from a per-block three-level table of W_n (PowTw, below): no transcendental
// per butterfly or per point. Tiles and rows sit in shared memory as two float planes.
// Cost per pair of rows, fp32 storage: pass 1 reads 16 L, writes 8n bytes; pass 2 reads 8n (+ hf
//   8n, shared by the B batch rows of a channel pair: L2 hits when B > 1) and writes 8n; pass 3
//   reads 8n + 24 L and writes 8 L. Per row: 24 L bytes of inputs/outputs (v, pre read twice) +
//   16n of workspace (2 round trips, halved by the pairing): 56 L bytes at n = 2L (L a power of
//   two), up to 88 L at n ≈ 4L, vs 16 L for the shared-memory path. FLOPs per row: one n-point
//   complex FFT each way (5 n log2 n each, halved by the pairing) + the split/product/join (~20
//   FLOP per point pair) ≈ 10 L log2(2L): at L = 2^20 about 2.2e8 FLOP vs 5.9e7 bytes, ~4
//   FLOP/byte: memory-bound on H200 (~14 µs per row at 4.3 TB/s).
//   Workspace (allocated by the wrapper): [⌈C/2⌉, B, n] complex = 8·⌈C/2⌉·B·n bytes.
// Backward (hyena_fftconv_long_rows_bwd + the same column passes): pass 1 on a = pre ⊙ v (Za) and
//   on g = grad_y ⊙ post (Zg); per (channel pair, mirror rows), for every batch row in order: row
//   DIFs of both, the split, acc += G·conj(A) per channel (the spectrum of Σ_b corr(g_b, a_b),
//   packed real part ch, imaginary ch + 1), A·H and G·conj(H) joined and inverted in place; acc/4n
//   inverted into a grad_h slab [⌈C/2⌉, n]. A·H only serves grad_post = grad_y ⊙ (h∗a + D·a):
//   where the forward kept that value (p.inner, written by long_out) or there is no post gate,
//   hyena_fftconv_long_rows_bwd_kept replaces the row pass (below) and pass 3 skips the Za
//   transform. Pass 3 then gives, in one launch
//   (hyena_fftconv_long_grad_in_*), grad_post (on Za, gate grad_y) and grad_v, grad_pre (one
//   transform of Zg, gates pre and v), and (hyena_fftconv_long_grad_h_*, the same pass over the
//   slab) grad_h of both channels with grad_D = its lag 0 (Σ_b Σ_t g·a), all
//   deterministic (no atomics, batch order fixed). Accuracy: these sums over L are not running
//   sums but FFT correlations, whose rounding error grows like u·log2 n (u = 2^-24), not
//   u·sqrt(L): measured grad_D (filter_fn.bias) 1.2e-7 relative L2 at L = 2^16 in the operator
//   (before the channel pairing; the split adds one add per bin); the B batch rows' spectra are
//   summed in order. Bytes per pair ≈ 2× the forward's passes 1–2 + 3 × pass 3; workspace
//   2 × 8·⌈C/2⌉·B·n + 8·⌈C/2⌉·n bytes (+ hf). Shared memory of the row block: 6 rows of n2
//   complex (Za, Zg, acc of both mirror rows) = 192 KiB: an sm_90 (227 KiB) fits it, an sm_80
//   (163 KiB) gets ops::fftconv's typed shared-memory error for that backward. Without A·H the
//   row pass is hyena_fftconv_long_rows_bwd_kept on a's row spectra: the forward's where it kept
//   them (hyena_fftconv_long_rows_keep stores each row's forward FFT over pass 1's row, 8n bytes
//   per pair more written; no pass 1 on a in the backward), else hyena_fftconv_long_rows_spectra's
//   (the row FFTs of the backward's own pass 1 on a, stored over it); acc in the grad_h slab, 2
//   rows of shared memory (64 KiB: an sm_80 fits it).
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <type_traits>
#include "common.cuh"
#include "hyena_params.h"
#include "fftconv_tw.cuh"

namespace hyena_fftconv {

using hyena::to_f32;
using hyena::from_f32;
using hyena::Vec2;
using hyena::load2;
using hyena::ld_vec2;
using hyena::st_vec2;
using hyena::store2;
using hyena::aligned2;

__device__ inline float2 cadd(float2 a, float2 b) { return make_float2(a.x + b.x, a.y + b.y); }
__device__ inline float2 csub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }
__device__ inline float2 cmul(float2 a, float2 b) { return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }
__device__ inline float2 conjf2(float2 a) { return make_float2(a.x, -a.y); }
// Position of natural index k (0 ≤ k < m = 2^log2m) in the bit-reversed output of the DIF FFT.
__device__ inline unsigned rev(unsigned k, unsigned log2m) { return log2m == 0 ? 0u : __brev(k) >> (32u - log2m); }

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

// ---- Shared-memory path: Stockham FFT with register-resident passes -----------------------------
//
// Cost model (per m-point complex FFT, m = n/2 = 2^M ≤ 8192, T = blockDim.x threads):
//   * Stockham autosort (Govindaraju et al. 2008): a pass of radix R = 2^r at stride Ns reads the
//     points j + q·m/R (q < R) of butterfly j, twiddles them by W_{R·Ns}^{(j mod Ns)·q}, takes an
//     R-point DFT in registers and writes them to (j − j mod Ns)·R + j mod Ns + q·Ns. Natural order
//     in and out: no bit reversal anywhere, and the real-FFT split finds bins k and m − k in the
//     registers of one thread (below).
//   * Passes: P0 of radix 2^r0 (Ns = 1, no twiddle) straight from global memory; ⌈·⌉ radix-16
//     middle passes; the last forward pass (radix 2^rL, rL = min(4, M)) stays in registers, where
//     the split, the spectral product and the fold happen, and the first inverse pass (the same
//     butterflies, Ns = 1) starts from them. The inverse runs its radix-16 middle passes and ends
//     with a radix-2^r0 pass that writes global memory. M = r0 + 4·mids + rL.
//   * Barriers: a middle pass reads everything it needs into registers, barrier, writes, barrier
//     (in place, one buffer per FFT). Per row of the forward conv: 1 (after P0) + 2·mids + 2 (the
//     fused pass) + 2·mids: at m = 8192 (mids = 2) 11 for two FFTs, vs 2·13 + 2 radix-2 stages.
//   * No transcendental and no division per butterfly: every block builds (or copies) a twiddle table once
//     (static shared, ≤ 893 entries, one sincospif each) of W_N = e^{−2πi/N} for N = 2^e,
//     e = 1..M+1: fine entries W_N^f (f < min(N/2, 64)) and coarse entries W_N^{64c}; a lookup is
//     one table read (N ≤ 128) or the product of two (≈ 1.5 ulp). A radix-16 pass reads w = W^k and
//     W^{4k} and forms the 15 powers by ≤ 3 products (worst ≈ 13 ulp, typically 5): the same order of
//     error as the FFT's own rounding (measured: the f32 tests against the f64 reference, tests/all/fftconv.rs).
//   * Banks: data in two float planes (re, im: 4-byte accesses, one wavefront per conflict-free
//     warp request). Reads of a pass take consecutive j per warp (conflict-free in natural order);
//     writes of a pass with Ns < 32 stride by R; the buffer they write is swizzled,
//     p ↦ p ^ ((p >> r) & mask_s) with mask_s = bits s..4 (Ns = 2^s): the lanes' varying high
//     address bits land on distinct banks, and the next pass's natural-order reads stay a bijection
//     on the banks (the map is unit-triangular over GF(2)). Twiddle lookups take consecutive k or a
//     broadcast. The split's partner bins m − k are a descending run of 32 consecutive points.
namespace smfft {

// Index map of a buffer written by a pass of radix 2^r at Ns = 2^s (identity for r = 0 or s ≥ 5).
// It is linear over GF(2): map(a ^ b) = map(a) ^ map(b). The passes' indices are sums of terms
// with disjoint bits (a butterfly's base index + q·stride, stride a power of two above it), i.e.
// XORs, so every point's index is map(base) ^ map(q·stride): one per-thread map and, per q, an
// XOR with a warp-uniform value (q compile-time after unrolling) instead of the shift, mask and
// XOR of the map per access.
struct Layout {
    unsigned r, mask;
    __device__ unsigned operator()(unsigned p) const { return p ^ ((p >> r) & mask); }
};
__device__ inline Layout written_by(unsigned r, unsigned s) {
    Layout l;
    l.r = r;
    l.mask = (r == 0 || s >= 5) ? 0u : (31u & ~((1u << s) - 1u));
    return l;
}

// M = r0 + 4·mids + rL (see the header).
struct Plan {
    unsigned M, m, rL, r0, mids;
};
__device__ inline Plan make_plan(unsigned M) {
    Plan p;
    p.M = M;
    p.m = 1u << M;
    p.rL = M < 4 ? M : 4;
    const unsigned rest = M - p.rL;
    p.mids = rest == 0 ? 0u : (rest + 3) / 4 - 1;
    p.r0 = rest - 4 * p.mids;
    return p;
}
// The plan of a kernel launched for n = 2^log2n (m = n/2): make_plan(log2n − 1), or, for the
// kernels built for one length (MC = log2 m ≠ 0: the *_m13 / *_m12 ones), make_plan(MC), which
// folds to constants, after a trap on any other n.
template <unsigned MC> __device__ __forceinline__ Plan plan_for(uint64_t log2n) {
    if (MC != 0 && (unsigned)log2n - 1 != MC) __trap();
    return make_plan(MC != 0 ? MC : (unsigned)log2n - 1);
}

// Twiddle table: fine part of N = 2^e at 2^(e−1) − 1 (e ≤ 7) or 63 + 64·(e − 7), coarse part (e ≥ 8)
// at TW_FINE + 2^(e−7) − 2 (e ≤ 13) or TW_FINE + 62 + 64·(e − 13). Supports e ≤ 15, k < min(N/2, 4096).
#define HYENA_TW_FINE 639
#define HYENA_TW_ENTRIES 893
#define HYENA_TW_PADDED 896  // load_tw's copy (float4 rows of the generated table)
struct Tw {
    const float* re;
    const float* im;
    // W_{2^e}^k.
    __device__ float2 get(unsigned e, unsigned k) const {
        if (e <= 7) {
            const unsigned o = (1u << (e - 1)) - 1u + k;
            return make_float2(re[o], im[o]);
        }
        const unsigned f = 63u + 64u * (e - 7) + (k & 63u);
        const unsigned c = HYENA_TW_FINE + (e <= 13 ? (1u << (e - 7)) - 2u : 62u + 64u * (e - 13)) + (k >> 6);
        return cmul(make_float2(re[f], im[f]), make_float2(re[c], im[c]));
    }
};
// The same table copied from the precomputed global one (kernels/fftconv_tw.cuh, generated by
// scripts/gen-fftconv-tw; correctly rounded values): 2 × 224 float4 loads per block (L2 hits
// after the first wave: 7 KiB per block against ≥ 24 KiB of the row) instead of 893 sincospif
// (~13 % of the forward's instructions at L = 8K). Used by every shared-memory path kernel
// (filter, forward, and since branch bwd10 the backward's row and reduce kernels).
__device__ inline void load_tw(float* re, float* im) {
    for (unsigned i = threadIdx.x; i < 224u; i += blockDim.x) {
        const float4 a = HYENA_TW_TABLE_RE[i], b = HYENA_TW_TABLE_IM[i];
        re[4 * i] = a.x;
        re[4 * i + 1] = a.y;
        re[4 * i + 2] = a.z;
        re[4 * i + 3] = a.w;
        im[4 * i] = b.x;
        im[4 * i + 1] = b.y;
        im[4 * i + 2] = b.z;
        im[4 * i + 3] = b.w;
    }
}

// cos(π t/16) and sin(π t/16) for any integer t (compile-time after unrolling).
__device__ inline float c16(int t) {
    t = ((t % 32) + 32) % 32;
    if (t > 16) t = 32 - t;
    switch (t) {
    case 0: return 1.0f; case 1: return 0.98078528040323043f; case 2: return 0.92387953251128674f;
    case 3: return 0.83146961230254524f; case 4: return 0.70710678118654752f; case 5: return 0.55557023301960218f;
    case 6: return 0.38268343236508977f; case 7: return 0.19509032201612827f; case 8: return 0.0f;
    case 9: return -0.19509032201612827f; case 10: return -0.38268343236508977f; case 11: return -0.55557023301960218f;
    case 12: return -0.70710678118654752f; case 13: return -0.83146961230254524f; case 14: return -0.92387953251128674f;
    case 15: return -0.98078528040323043f; default: return -1.0f;
    }
}
__device__ inline float s16(int t) { return c16(8 - t); }
// W_32^t = e^{−iπ t/16} (t compile-time after unrolling).
__device__ inline float2 w32(int t) { return make_float2(c16(t), -s16(t)); }

// x · W_16^e (forward) or x · conj(W_16^e) (inverse), e compile-time after unrolling.
template <bool INV> __device__ inline float2 mul_w16(float2 x, int e) {
    e &= 15;
    if (e == 0) return x;
    if (e == 4) return INV ? make_float2(-x.y, x.x) : make_float2(x.y, -x.x);  // ·(±i)
    if (e == 8) return make_float2(-x.x, -x.y);
    if (e == 12) return INV ? make_float2(x.y, -x.x) : make_float2(-x.y, x.x);
    const float2 w = w32(2 * e);
    return cmul(x, INV ? conjf2(w) : w);
}

// x · W_32^t (forward) or x · conj(W_32^t) (inverse), t compile-time after unrolling: the
// multiples of 8 (±1, ±i) as sign flips and swaps, the rest one complex product by a constant.
template <bool INV> __device__ inline float2 mul_w32(float2 x, int t) {
    t &= 31;
    if (t % 8 == 0) return mul_w16<INV>(x, t / 2);
    const float2 w = w32(t);
    return cmul(x, INV ? conjf2(w) : w);
}

// Bit reversal of q < 2^bits, bits ≤ 5, in closed form: the optimiser folds it once the DFT's loop
// is unrolled (a recursive form stayed a call, and the register renaming a local-memory array).
__host__ __device__ constexpr int bitrev(int q, int bits) {
    return (((q & 1) << 4) | ((q & 2) << 2) | (q & 4) | ((q & 8) >> 2) | ((q & 16) >> 4)) >> (5 - bits);
}
__host__ __device__ constexpr int ilog2(int r) { return r <= 1 ? 0 : 1 + ilog2(r / 2); }

// R-point DFT in registers, natural order in and out (radix-2 DIF network + a register renaming).
template <int R, bool INV> __device__ inline void dft(float2 (&v)[R]) {
#pragma unroll
    for (int st = 0; st < ilog2(R); ++st) {
        const int span = (R / 2) >> st;
#pragma unroll
        for (int i = 0; i < R / 2; ++i) {
            const int j = i % span, a = 2 * (i - j) + j, b = a + span;
            const float2 u = v[a], w = v[b];
            v[a] = cadd(u, w);
            v[b] = mul_w16<INV>(csub(u, w), j * (8 / span));  // W_{2·span}^j = W_16^{8j/span}
        }
    }
    float2 t[R];
#pragma unroll
    for (int q = 0; q < R; ++q) t[q] = v[bitrev(q, ilog2(R))];
#pragma unroll
    for (int q = 0; q < R; ++q) v[q] = t[q];
}

// Powers of the twiddles of one butterfly: p[i] = w1^i, h[i] = w4^i (i < 4), conjugated for the
// inverse; v[q] is multiplied by h[q >> 2]·p[q & 3] = W^{k·q} (R ≥ 8: ≤ 3 products per power).
struct TwPowers {
    float2 p[4], h[4];
};
template <bool INV> __device__ inline TwPowers tw_powers(float2 w1, float2 w4) {
    if (INV) {
        w1 = conjf2(w1);
        w4 = conjf2(w4);
    }
    TwPowers t;
    t.p[0] = make_float2(1.f, 0.f);
    t.p[1] = w1;
    t.p[2] = cmul(w1, w1);
    t.p[3] = cmul(t.p[2], w1);
    t.h[0] = t.p[0];
    t.h[1] = w4;
    t.h[2] = cmul(w4, w4);
    t.h[3] = cmul(t.h[2], w4);
    return t;
}
template <int R> __device__ inline void twiddle_apply(float2 (&v)[R], const TwPowers& tp) {
#pragma unroll
    for (int q = 1; q < R; ++q) {
        const int q0 = q & 3, q1 = q >> 2;
        const float2 t = q1 == 0 ? tp.p[q0] : (q0 == 0 ? tp.h[q1] : cmul(tp.h[q1], tp.p[q0]));
        v[q] = cmul(v[q], t);
    }
}
// v[q] *= W^{k·q} (conjugated for the inverse) from w1 = W^k and w4 = W^{4k} (R ≥ 8).
template <int R, bool INV> __device__ inline void twiddle_in(float2 (&v)[R], float2 w1, float2 w4) {
    twiddle_apply<R>(v, tw_powers<INV>(w1, w4));
}

// Twiddles of butterfly j of a radix-R pass at Ns = 2^s (none when Ns = 1).
template <int R, bool INV> __device__ inline void pass_twiddle(float2 (&v)[R], const Tw& tw, unsigned s, unsigned k) {
    if (R == 1 || s == 0) return;
    constexpr int r = ilog2(R);
    const float2 w1 = tw.get(s + r, k);
    const float2 w4 = R >= 8 ? tw.get(s + r - 2, k) : make_float2(1.f, 0.f);
    twiddle_in<R, INV>(v, w1, w4);
}

// Keeps the compiler from hoisting the global loads of later unrolled iterations above this point
// (they would all be live at once: register spills at 128 registers per thread).
__device__ inline void fence_loads() {
#ifndef CUDASIM
    asm volatile("" ::: "memory");
#endif
}

__device__ inline float2 ld(const float* b, unsigned m, unsigned i) { return make_float2(b[i], b[m + i]); }
__device__ inline void st(float* b, unsigned m, unsigned i, float2 x) {
    b[i] = x.x;
    b[m + i] = x.y;
}

// One radix-16 middle pass at Ns = 2^s on one buffer, in place, m/16 ≤ blockDim.x: every thread
// reads its butterfly into registers, barrier, writes, barrier.
template <bool INV> __device__ inline void mid_pass(float* buf, const Plan& pl, unsigned s, Layout in, Layout out, const Tw& tw) {
    const unsigned m = pl.m, cnt = m >> 4;
    const unsigned j = threadIdx.x, k = j & ((1u << s) - 1u);
    float2 v[16];
    if (j < cnt) {
#pragma unroll
        for (int q = 0; q < 16; ++q) v[q] = ld(buf, m, in(j) ^ in(q * cnt));
        pass_twiddle<16, INV>(v, tw, s, k);
        dft<16, INV>(v);
    }
    __syncthreads();
    if (j < cnt) {
#pragma unroll
        for (int q = 0; q < 16; ++q) st(buf, m, out(((j - k) << 4) + k) ^ out(q << s), v[q]);
    }
    __syncthreads();
}
// The middle passes on nb buffers one after the other (plane pairs at base + 2m·b), one radix-16
// butterfly per thread (m/16 ≤ blockDim.x: check_shape). Until 2026-12-05 the forward also took
// m = 16384 (L ≤ 16K) with two butterflies per thread, one parked in 64 KiB of shared scratch;
// that length is the multi-pass path's now (ops::fftconv::SMEM_MAX_LEN).
template <bool INV> __device__ inline void mid_passes(float* base, unsigned nb, const Plan& pl, unsigned s, Layout in, Layout out, const Tw& tw) {
    for (unsigned b = 0; b < nb; ++b) mid_pass<INV>(base + 2 * pl.m * b, pl, s, in, out, tw);
}

// The middle passes of the forward FFT (after P0, radix 2^r0) or of the inverse (after the fused
// pass, radix 2^rL); returns the layout the next pass reads.
template <bool INV> __device__ inline Layout mids(float* base, unsigned nb, const Plan& pl, const Tw& tw) {
    const unsigned r = INV ? pl.rL : pl.r0;
    Layout l = written_by(r, 0);
    for (unsigned i = 0; i < pl.mids; ++i) {
        const unsigned s = r + 4 * i;
        const Layout o = written_by(4, s);
        mid_passes<INV>(base, nb, pl, s, l, o, tw);
        l = o;
    }
    return l;
}

// The fused pass works on pair slots u < max(J/2, 1), J = m/RL: butterflies b1 = u and
// b2 = J − u (u = 0: b1 = 0 and b2 = J/2, both their own partners; b2 absent when J = 1). Point
// b + q·J of butterfly b holds bin k = b + q·J after the forward pass; its partner m − k is point
// (J − b) + (RL − 1 − q)·J (b ≠ 0) or (RL − q)·J (b = 0).
struct Pair {
    unsigned u, J, b1, b2;
    bool has2;
};
__device__ inline Pair pair_of(unsigned u, const Plan& pl) {
    Pair p;
    p.u = u;
    p.J = pl.m >> pl.rL;
    p.b1 = u;
    p.b2 = u ? p.J - u : p.J / 2;
    p.has2 = p.J >= 2;
    return p;
}
__device__ inline unsigned pair_slots(const Plan& pl) {
    const unsigned J = pl.m >> pl.rL;
    return J >= 2 ? J / 2 : 1u;
}

// fused_pass, read half (the backward's and the one-block forward's): butterflies b1, b2 from the buffer (layout `in`), twiddled
// (Ns = J) and transformed in registers one at a time, then parked in their own points (no other
// thread reads them in this pass): point b + q·J holds bin Z[b + q·J]. One butterfly is live at a
// time: with both in registers plus the split/product temporaries the pass spilled at 128 registers.
// FRESH (the filter's 64-register instance): the stores form their addresses by another
// expression of the same value, in(b | q·J) = in(b) ^ in(q·J) (disjoint bits; Layout is linear), so
// nvcc does not keep the loads' RL addresses live through the DFT (72 B of spills at 64 registers).
template <int RL, bool FRESH = false> __device__ inline void fused_read_park(float* buf, const Plan& pl, Layout in, const Tw& tw, const Pair& pr) {
    const unsigned m = pl.m, J = pr.J, s = pl.M - ilog2(RL);
#pragma unroll 1
    for (unsigned i = 0; i < (pr.has2 ? 2u : 1u); ++i) {
        const unsigned b = i ? pr.b2 : pr.b1;
        float2 v[RL];
#pragma unroll
        for (int q = 0; q < RL; ++q) v[q] = ld(buf, m, in(b) ^ in(q * J));
        pass_twiddle<RL, false>(v, tw, s, b);
        dft<RL, false>(v);
#pragma unroll
        for (int q = 0; q < RL; ++q) st(buf, m, FRESH ? in(b | (q * J)) : in(b) ^ in(q * J), v[q]);
        fence_loads();
    }
}

// Calls f(zk, zmk, k, w, ik, imk) once per bin pair (k, m − k) parked by the slot, in place: zk,
// zmk the bins k and m − k loaded from the buffer and stored back after f (the same variable for
// k = 0, where zmk stands for bin m, and for k = m/2), w = W_n^k (n = 2m), ik/imk their points in
// storage (layout `in` applied: the same in every buffer of the row).
// STORE false (the filter, which only reads the spectrum out): nothing is stored back.
// ROLLED (the forward's two-block kernel, RL = 16): the pair loops stay loops (`#pragma unroll 1`,
// the W_32^q factors from the table): unrolled, ptxas hoisted the loads of later pairs (and the
// hook's hf loads) above earlier ones and spilled at 64 registers.
template <int RL, bool STORE = true, bool ROLLED = false, class F> __device__ inline void for_each_pair(float* buf, const Plan& pl, Layout in, const Tw& tw, const Pair& pr, F& f) {
    const unsigned m = pl.m, J = pr.J, e = pl.M + 1;
    // Storage point of index b + q·J (b < J): see Layout.
    auto at = [&](unsigned b, unsigned q) { return in(b) ^ in(q * J); };
    auto two = [&](unsigned pk, unsigned pmk, unsigned k, float2 w) {
        float2 a = ld(buf, m, pk), b = ld(buf, m, pmk);
        f(a, b, k, w, pk, pmk);
        if constexpr (STORE) {
            st(buf, m, pmk, b);
            st(buf, m, pk, a);
        }
        fence_loads();
    };
    auto one = [&](unsigned pk, unsigned k, float2 w) {
        float2 a = ld(buf, m, pk);
        f(a, a, k, w, pk, pk);
        if constexpr (STORE) st(buf, m, pk, a);
        fence_loads();
    };
    const float2 wb1 = tw.get(e, pr.b1), wb2 = pr.has2 ? tw.get(e, pr.b2) : make_float2(1.f, 0.f);
    if (pr.u != 0) {
        if constexpr (ROLLED && RL == 16) {
#pragma unroll 1
            for (int q = 0; q < RL; ++q) two(at(pr.b1, q), at(pr.b2, RL - 1 - q), pr.b1 + q * J, cmul(wb1, tw.get(5, q)));
        } else {
#pragma unroll
            for (int q = 0; q < RL; ++q) two(at(pr.b1, q), at(pr.b2, RL - 1 - q), pr.b1 + q * J, cmul(wb1, w32(q * (16 / RL))));
        }
        return;
    }
    one(at(0u, 0u), 0u, make_float2(1.f, 0.f));
    if constexpr (ROLLED && RL == 16) {
#pragma unroll 1
        for (int q = 1; q < RL / 2; ++q) two(at(0u, q), at(0u, RL - q), q * J, tw.get(5, q));
        one(at(0u, RL / 2), (RL / 2) * J, w32(8));
        if (pr.has2) {
#pragma unroll 1
            for (int q = 0; q < RL / 2; ++q) two(at(pr.b2, q), at(pr.b2, RL - 1 - q), pr.b2 + q * J, cmul(wb2, tw.get(5, q)));
        }
        return;
    }
#pragma unroll
    for (int q = 1; q < RL / 2; ++q) two(at(0u, q), at(0u, RL - q), q * J, w32(q * (16 / RL)));
    if (RL >= 2) one(at(0u, RL / 2), (RL / 2) * J, w32(8));
    if (pr.has2) {
#pragma unroll
        for (int q = 0; q < RL / 2; ++q) two(at(pr.b2, q), at(pr.b2, RL - 1 - q), pr.b2 + q * J, cmul(wb2, w32(q * (16 / RL))));
    }
}

// Inverse first pass (Ns = 1, no twiddle) of butterflies b1, b2: reload them from their own
// points and transform in registers (call before the barrier; store with fused_store after it).
template <int RL> __device__ inline void fused_load_idft(const float* buf, const Plan& pl, Layout in, const Pair& pr, float2 (&v1)[RL], float2 (&v2)[RL]) {
#pragma unroll
    for (int q = 0; q < RL; ++q) v1[q] = ld(buf, pl.m, in(pr.b1) ^ in(q * pr.J));
    dft<RL, true>(v1);
    if (pr.has2) {
#pragma unroll
        for (int q = 0; q < RL; ++q) v2[q] = ld(buf, pl.m, in(pr.b2) ^ in(q * pr.J));
        dft<RL, true>(v2);
    }
}
template <int RL> __device__ inline void fused_store(float* buf, const Plan& pl, const Pair& pr, float2 (&v1)[RL], float2 (&v2)[RL]) {
    const Layout out = written_by(ilog2(RL), 0);
#pragma unroll
    for (int q = 0; q < RL; ++q) st(buf, pl.m, out(pr.b1 * RL) ^ out(q), v1[q]);
    if (pr.has2) {
#pragma unroll
        for (int q = 0; q < RL; ++q) st(buf, pl.m, out(pr.b2 * RL) ^ out(q), v2[q]);
    }
}


}  // namespace smfft

// Guard of the two-block kernels' plans (ops::fftconv::fwd_two_blocks / bwd_two_blocks): one
// fused pass of radix 16, a first pass of radix 2 or 4 (the others spilled at 64 registers).
__device__ inline void trap_unless_two_block(const smfft::Plan& pl) {
    if (pl.rL != 4 || (pl.r0 != 1 && pl.r0 != 2)) __trap();
}

// Guard of the shared-memory path's launch shape (ops::fftconv sets blockDim = clamp(m/16, 32, 512)
// for the filter and the forward, fwd_block_for, and the backward, bwd_block_for):
// m ≤ 8192 (L ≤ ops::fftconv::SMEM_MAX_LEN), a middle pass needs m/16 ≤ blockDim (one butterfly
// per thread; the backward's buffers pass one after the other) and the fused pass m/32 ≤
// blockDim; the twiddle table covers m ≤ 16384.
__device__ inline void check_shape(unsigned M) {
    const unsigned m = 1u << M;
    if (M < 1 || M > 13 || (m >> 4) > blockDim.x) __trap();
}

// x[t], x[t+1] gated by g (absent: 1).
template <typename T> __device__ inline float2 gated2(const T* x, const T* g, uint64_t t, uint64_t L, bool vec) {
    float2 a = load2<T>(x, t, L, vec);
    if (g) {
        const float2 q = load2<T>(g, t, L, vec);
        a.x *= q.x;
        a.y *= q.y;
    }
    return a;
}

// ---- The forward's first and last passes (the filter's first pass too) --------------------------
// Causal padding, n ≥ 2L (ops::fftconv::fft_size), so m ≥ L: the points pt ≥ m/2 of the packed
// signal hold t = 2pt ≥ L and are zero, and the last pass writes nothing there. A radix-R0 butterfly
// j holds the points j + q·m/R0: those with q ≥ R0/2 are all ≥ m/2 (R0 ≥ 2). So P0 loads only its
// H = ⌈R0/2⌉ low points (the zeros are compile-time: the DFT's first stage folds), and the last
// pass computes and writes only those (nvcc drops the DFT outputs nobody reads).
// Where all H points of a butterfly are in range and the rows are 2-element aligned (every
// butterfly but the one at the row's end, in practice) and the storage is 2-byte (bf16, f16), the
// H loads of each input are issued back to back with no bounds test and no fence between them:
// H loads per input in flight per thread instead of 1 (the DRAM latency term; R0 ≤ 16, H ≤ 8:
// 8 + 8 registers of packed pairs for v and pre), and no branch per point. The other
// butterflies, and f32 rows (whose 8-byte pairs spilled at 128 registers), take the checked path,
// one point at a time. At n = 16384 (8K) R0 = 2, H = 1: the gain there is the skipped zero half.
template <int R> struct Radix { static constexpr int value = R; };
template <class F> __device__ __forceinline__ void with_r0(unsigned r0, F&& f) {
    switch (r0) {
    case 0: f(Radix<1>()); break;
    case 1: f(Radix<2>()); break;
    case 2: f(Radix<4>()); break;
    case 3: f(Radix<8>()); break;
    default: f(Radix<16>()); break;
    }
}
// The radices R0 ∈ {2, 4} only (r0 ∈ {1, 2}: M = 5, 6, 9, 10, 13, i.e. L ≤ 64, 257…1K and 4K < L ≤ 8K;
// ops::fftconv::fwd_two_blocks): the forward's two-block kernel, whose R0 = 8 and 16 arms of P0
// and the last pass spilled at 64 registers (their H = 4 and 8 points of packed loads in flight).
template <class F> __device__ __forceinline__ void with_r0_small(unsigned r0, F&& f) {
    switch (r0) {
    case 1: f(Radix<2>()); break;
    case 2: f(Radix<4>()); break;
    default: __trap();
    }
}
template <int R> __device__ inline constexpr int low_points() { return R > 1 ? R / 2 : 1; }
// Whether the H low points of butterfly j (cnt butterflies) are all fully in range (t + 1 < L).
template <int R0> __device__ inline bool low_in_range(unsigned j, unsigned cnt, uint64_t L) {
    return 2 * ((uint64_t)j + (uint64_t)(low_points<R0>() - 1) * cnt) + 1 < L;
}
// The butterflies j < low_in_range_count<R0>(cnt, L) are exactly those with low_in_range<R0>(j,
// cnt, L) (the test is monotone in j): 2(j + (H − 1)·cnt) + 1 < L ⟺ j ≤ ⌊(L − 2)/2⌋ − (H − 1)·cnt.
template <int R0> __device__ inline unsigned low_in_range_count(unsigned cnt, uint64_t L) {
    unsigned n = 0;
    if (L >= 2) {
        const int64_t a0 = (int64_t)((L - 2) / 2) - (int64_t)(low_points<R0>() - 1) * cnt;
        if (a0 >= 0) n = a0 + 1 < (int64_t)cnt ? (unsigned)(a0 + 1) : cnt;
    }
    return n;
}

// Loads of the low points of butterflies j + i·T (i < NG) of fwd_p0's fast path, for x (and g),
// back to back (2-element aligned pairs, every point in range: the caller checked).
template <int NG, typename T, typename V2, int G, int H>
__device__ inline void p0_load(const T* x, const T* g, unsigned j, unsigned T_, unsigned cnt, V2 (&xr)[G][H], V2 (&gr)[G][H]) {
#pragma unroll
    for (int i = 0; i < NG; ++i)
#pragma unroll
        for (int q = 0; q < H; ++q) xr[i][q] = ld_vec2(reinterpret_cast<const V2*>(x + 2 * (uint64_t)(j + i * T_ + q * cnt)));
    if (g) {
#pragma unroll
        for (int i = 0; i < NG; ++i)
#pragma unroll
            for (int q = 0; q < H; ++q) gr[i][q] = ld_vec2(reinterpret_cast<const V2*>(g + 2 * (uint64_t)(j + i * T_ + q * cnt)));
    }
}

// P0 of the forward (x = v, g = pre) and of the filter (x = h, g = nullptr): a = x ⊙ g packed,
// keep(pt, a, full) sees every loaded point (full: both t and t + 1 in range).
// HOIST (the forward's and the filter's instances): butterflies j < nfast have every low point
// fully in range, one loop-invariant bound (low_in_range_count) computed before the loop instead
// of low_in_range per butterfly (fwd10; the merged backward keeps the per-butterfly test: with
// the hoisted bound its bf16/f16 instances spilled 16 B on sm_90). GROUP (the filter's instances:
// 4) with HOIST and H < GROUP (R0 ≤ 4: L = 8K among them): the fast path also takes G = GROUP/H
// butterflies per thread at once (j, j + T, …, T = blockDim.x), their G·H loads per input back to
// back: the DRAM latency term counts the loads a warp has in flight, and a radix-2 butterfly has
// a single 4-byte pair per input to load. In the forward (two inputs and `keep`) groups of 2 or 4
// spilled 36–372 B on sm_90 (ptxas -v), so it keeps GROUP = 1.
template <int R0, typename T, bool HOIST = false, int GROUP = 1, class Keep>
__device__ inline void fwd_p0(float* z, const smfft::Plan& pl, const T* x, const T* g, uint64_t L, bool vec, Keep& keep) {
    using namespace smfft;
    typedef typename Vec2<T>::type V2;
    constexpr int H = low_points<R0>();
    constexpr bool FAST = sizeof(T) == 2;
    constexpr int G = HOIST && FAST && H < GROUP ? GROUP / H : 1;
    const unsigned m = pl.m, cnt = m / R0;
    const Layout out = written_by(ilog2(R0), 0);
    unsigned nfast = 0;
    if (HOIST && FAST && vec) nfast = low_in_range_count<R0>(cnt, L);
    unsigned j0 = threadIdx.x;
    if constexpr (G > 1) {
        // G butterflies per iteration, every one with j + i·T < nfast; the rest below.
        const unsigned T_ = blockDim.x;
#pragma unroll 1
        for (; j0 + (G - 1) * T_ < nfast; j0 += G * T_) {
            V2 xr[G][H], gr[G][H];
            p0_load<G>(x, g, j0, T_, cnt, xr, gr);
#pragma unroll
            for (int i = 0; i < G; ++i) {
                const unsigned jj = j0 + i * T_;
                float2 a[R0];
#pragma unroll
                for (int q = 0; q < H; ++q) {
                    a[q] = make_float2(to_f32<T>(xr[i][q].x), to_f32<T>(xr[i][q].y));
                    if (g) {
                        a[q].x *= to_f32<T>(gr[i][q].x);
                        a[q].y *= to_f32<T>(gr[i][q].y);
                    }
                    keep(jj + q * cnt, a[q], true);
                }
#pragma unroll
                for (int q = H; q < R0; ++q) a[q] = make_float2(0.f, 0.f);
                dft<R0, false>(a);
#pragma unroll
                for (int q = 0; q < R0; ++q) st(z, m, out(jj * R0) ^ out(q), a[q]);
            }
            fence_loads();
        }
    }
    for (unsigned j = j0; j < cnt; j += blockDim.x) {
        float2 a[R0];
        if (HOIST ? j < nfast : FAST && vec && low_in_range<R0>(j, cnt, L)) {
            // All H loads of each input back to back (H ≤ 8: 8 + 8 registers of packed pairs). In
            // groups of 4 (fenced) the bf16 instance spilled 4 B on sm_90; f32 rows take the
            // checked path (FAST false): with 4 or 8 f32 pairs in flight they spilled 52–204 B.
            V2 xr[H], gr[H];
#pragma unroll
            for (int q = 0; q < H; ++q) xr[q] = ld_vec2(reinterpret_cast<const V2*>(x + 2 * (uint64_t)(j + q * cnt)));
            if (g) {
#pragma unroll
                for (int q = 0; q < H; ++q) gr[q] = ld_vec2(reinterpret_cast<const V2*>(g + 2 * (uint64_t)(j + q * cnt)));
            }
#pragma unroll
            for (int q = 0; q < H; ++q) {
                a[q] = make_float2(to_f32<T>(xr[q].x), to_f32<T>(xr[q].y));
                if (g) {
                    a[q].x *= to_f32<T>(gr[q].x);
                    a[q].y *= to_f32<T>(gr[q].y);
                }
                keep(j + q * cnt, a[q], true);
            }
        } else {
#pragma unroll
            for (int q = 0; q < H; ++q) {
                a[q] = gated2<T>(x, g, 2 * (uint64_t)(j + q * cnt), L, vec);
                keep(j + q * cnt, a[q], false);
                fence_loads();
            }
        }
#pragma unroll
        for (int q = H; q < R0; ++q) a[q] = make_float2(0.f, 0.f);
        dft<R0, false>(a);
#pragma unroll
        for (int q = 0; q < R0; ++q) st(z, m, out(j * R0) ^ out(q), a[q]);
    }
}

// Last inverse pass of the forward: radix R0 at Ns = m/R0 from z (layout `in`); the H low points
// go to out(pt, s, full) (full: t + 1 < L and vec), which issues its loads before its stores.
template <int R0, class Out>
__device__ inline void fwd_last(const float* z, const smfft::Plan& pl, smfft::Layout in, const smfft::Tw& tw, uint64_t L, bool vec, Out& out) {
    using namespace smfft;
    constexpr int H = low_points<R0>();
    const unsigned m = pl.m, cnt = m / R0, s = pl.M - ilog2(R0);
    for (unsigned j = threadIdx.x; j < cnt; j += blockDim.x) {
        float2 v[R0];
#pragma unroll
        for (int q = 0; q < R0; ++q) v[q] = ld(z, m, in(j) ^ in(q * cnt));
        pass_twiddle<R0, true>(v, tw, s, j);
        dft<R0, true>(v);
        float2 lo[H];
#pragma unroll
        for (int q = 0; q < H; ++q) lo[q] = v[q];
        out(j, cnt, lo, vec && low_in_range<R0>(j, cnt, L));
    }
}

// Filter spectrum, one channel per block of m/16 threads (ops::fftconv::filter_block_for: 32 …
// 512): one radix-16 butterfly per thread in every middle pass, and one butterfly is live at a
// time in the fused pass (fused_read_park). That fits 64 registers, which __launch_bounds__(1024)
// asks for (a bound, kept from when m = 16384 took 1024 threads: the budget it sets is the point):
// two blocks (32 warps) per SM (shared 2 × (4n + 7 KiB) ≤ 142 KiB) where 128 registers allowed
// one (16 warps). The kernel is latency-bound at these occupancies (docs/GPU_MODEL.md).
#define HYENA_FFTCONV_FILTER_BLOCK 1024
template <typename T, unsigned MC = 0> __device__ __forceinline__ void filter(const HyenaFftFilterParams p) {
    using namespace smfft;
    HYENA_DYN_SHARED(float, z);
    __shared__ float tw_re[HYENA_TW_PADDED], tw_im[HYENA_TW_PADDED];
    const Plan pl = plan_for<MC>(p.log2n);
    check_shape(pl.M);
    const unsigned m = pl.m;
    const uint64_t L = p.l;
    const uint64_t ch = blockIdx.x;
    const T* __restrict__ hr = reinterpret_cast<const T*>(p.h) + ch * L;
    float2* __restrict__ out = reinterpret_cast<float2*>(p.hf) + ch * (uint64_t)(m + 1);
    const bool vec = aligned2<T>(hr);
    if ((uint64_t)m < L) __trap();  // n ≥ 2L (fwd_p0)
    if (pl.rL != 4) __trap();  // m ≥ 16 (one butterfly per thread per middle pass: check_shape)
    load_tw(tw_re, tw_im);
    const Tw tw = {tw_re, tw_im};
    // P0 with the forward's hoisted bound and grouped loads (fwd_p0, HOIST) on both architectures
    // (ptxas: no spills; kernel_index::no_kernel_spills_registers_on_sm80_or_sm90).
    auto keep = [](unsigned, float2, bool) {};
    with_r0(pl.r0, [&](auto r) { fwd_p0<decltype(r)::value, T, true, 4>(z, pl, hr, (const T*)nullptr, L, vec, keep); });
    __syncthreads();
    const Layout in = mids<false>(z, 1, pl, tw);  // one butterfly per thread (m/16 ≤ blockDim)
    const float scale = 1.0f / (float)(2u * m);  // a power of two: exact
    const unsigned u = threadIdx.x;
    if (u >= pair_slots(pl)) return;
    const Pair pr = pair_of(u, pl);
    // hf[k] = X[k]/n for k = 0..m: bin pairs (k, m − k), k = 0 gives X[0] and X[m].
    auto op = [&](const float2& zk, const float2& zmk, unsigned k, float2 w, unsigned, unsigned) {
        float2 xk, xmk;
        split(zk, zmk, w, k, &xk, &xmk);
        out[k] = make_float2(xk.x * scale, xk.y * scale);
        if (k == 0 || 2 * k != m) out[m - k] = make_float2(xmk.x * scale, xmk.y * scale);
    };
    // The slot's two butterflies one at a time (fused_read_park: each parked in its own points),
    // then its bin pairs read back (for_each_pair, nothing stored back): one butterfly live at a
    // time. Both in registers at once (the filter's pass until 2026-12-04) spilled 364 B at 64
    // registers. rL = 4 (m ≥ 16): one instance, no switch over the radices (as the forward).
    fused_read_park<16, true>(z, pl, in, tw, pr);
    for_each_pair<16, false>(z, pl, in, tw, pr, op);
}

// ---- The convolution's passes, one body for the forward and the backward ------------------------
// A row holds NB buffers (forward: 1; backward: A = 0, G = 1), each an m-point spectrum as two
// float planes at z + 2m·b. Both kernels run P0 (fwd_p0, per buffer), the middle passes (mids, on
// all buffers between the same barriers), the fused pass below and the last pass (fwd_last, per
// buffer). The fused pass's work differs by a hook, a generic lambda taking the buffer as a type
// Buf<b> first (compile-time, so it picks its work per buffer with `if constexpr`, no branch):
//   pair(Buf<b>, zk, zmk, k, w, ik, imk)               a bin pair of the fused pass (for_each_pair;
//                                                       ik, imk: storage points, the same in every buffer)
template <int B> struct Buf { static constexpr int index = B; };
template <int NB, class F> __device__ __forceinline__ void each_buf(F&& f) {
    f(Buf<0>());
    if constexpr (NB > 1) f(Buf<1>());
}
template <int NB, class F> __device__ __forceinline__ void each_buf_reversed(F&& f) {
    if constexpr (NB > 1) f(Buf<1>());
    f(Buf<0>());
}

// Fused pass: per buffer in order, its last forward pass parked in its own points and its bin
// pairs through `pair` (a later buffer's hook may read and write an earlier buffer's points of the
// same pair: the thread owns them); then the first inverse pass of every buffer, last buffer
// first, each stored after a barrier (one butterfly pair in registers at a time). All threads
// call it.
template <int RL, int NB, class Pair_> __device__ __forceinline__ void fused_pass(float* z, const smfft::Plan& pl, smfft::Layout in, const smfft::Tw& tw, Pair_& pair) {
    using namespace smfft;
    const unsigned m = pl.m;
    const bool act = threadIdx.x < pair_slots(pl);
    const Pair pr = pair_of(act ? threadIdx.x : 0u, pl);
    float2 v1[RL], v2[RL];
    if (act) {
        each_buf<NB>([&](auto b) {
            float* buf = z + 2 * m * decltype(b)::index;
            fused_read_park<RL>(buf, pl, in, tw, pr);
            auto op = [&](float2& zk, float2& zmk, unsigned k, float2 w, unsigned ik, unsigned imk) { pair(b, zk, zmk, k, w, ik, imk); };
            for_each_pair<RL>(buf, pl, in, tw, pr, op);
        });
        fused_load_idft<RL>(z + 2 * m * (NB - 1), pl, in, pr, v1, v2);
    }
    each_buf_reversed<NB>([&](auto b) {
        constexpr int i = decltype(b)::index;
        __syncthreads();
        if (act) {
            fused_store<RL>(z + 2 * m * i, pl, pr, v1, v2);
            if constexpr (i > 0) fused_load_idft<RL>(z + 2 * m * (i - 1), pl, in, pr, v1, v2);  // from its own slots
        }
    });
    __syncthreads();
}

// The fused pass of the two-block kernels (one buffer, RL = 16, 64 registers: hyena_fftconv_fwd_2b_*,
// hyena_fftconv_bwd_a_2b_* and hyena_fftconv_bwd_g_2b_*): one butterfly live in registers. The
// slot's butterflies are parked (fused_read_park), their bin pairs run as loops (for_each_pair,
// ROLLED) and are stored back; after one more barrier the inverse first pass (Ns = 1, no twiddle)
// of butterfly j runs as a middle pass on the points fused_store would write, out(16·j) ^ out(q),
// out = written_by(4, 0). pair(Buf<0>, zk, zmk, k, w, ik, imk) as fused_pass's hook. `first`
// (the backward's two-block kernels, which move a spectrum to or from the workspace): a hook of the
// same form run over the same bin pairs before `pair`, reading them only (for_each_pair, STORE
// false): in `pair` with the workspace's loads and stores those kernels spilled 20–28 B at 64
// registers. All threads call it; it ends after a barrier.
struct NoPairs {
    template <class... A> __device__ void operator()(A&&...) const {}
};
template <class Pair_, class First = NoPairs>
__device__ __forceinline__ void fused_pass_two_blocks(float* z, const smfft::Plan& pl, smfft::Layout in, const smfft::Tw& tw, Pair_& pair, First first = First()) {
    using namespace smfft;
    if (threadIdx.x < pair_slots(pl)) {
        const Pair pr = pair_of(threadIdx.x, pl);
        fused_read_park<16, true>(z, pl, in, tw, pr);
        auto op = [&](float2& zk, float2& zmk, unsigned k, float2 w, unsigned ik, unsigned imk) { pair(Buf<0>(), zk, zmk, k, w, ik, imk); };
        if constexpr (std::is_same<First, NoPairs>::value) {
            for_each_pair<16, true, true>(z, pl, in, tw, pr, op);
        } else {
            auto op1 = [&](float2& zk, float2& zmk, unsigned k, float2 w, unsigned ik, unsigned imk) { first(Buf<0>(), zk, zmk, k, w, ik, imk); };
            for_each_pair<16, false, true>(z, pl, in, tw, pr, op1);
            // The second walk forms the slot's values (butterflies, twiddles W_n^b) again from an
            // opaque copy of the thread index: kept from the first walk instead, they spilled.
            unsigned u = threadIdx.x;
#ifndef CUDASIM
            asm("" : "+r"(u));
#endif
            for_each_pair<16, true, true>(z, pl, in, tw, pair_of(u, pl), op);
        }
    }
    __syncthreads();
    mid_passes<true>(z, 1, pl, 0, in, written_by(4, 0), tw);
}

// Row (b, c) of a [B, C, L] tensor for block blockIdx.x = c·B + b (blocks ordered channel-major).
struct RowOf {
    uint64_t ch, off;
    template <typename P> __device__ P* at(uint64_t addr) const { return addr ? reinterpret_cast<P*>(addr) + off : nullptr; }
};
__device__ inline RowOf row_of(uint64_t B, uint64_t C, uint64_t L) {
    const uint64_t ch = blockIdx.x / B, bi = blockIdx.x % B;
    return RowOf{ch, (bi * C + ch) * L};
}
// row_of from an opaque copy of blockIdx.x: the compiler forms the row again where this is called
// instead of keeping the value of row_of's earlier call live in a register (the two-block
// forward's `inner` kernels built for their length); a 32-bit division (B ≤ B·C = gridDim.x <
// 2^31), a few instructions where row_of's 64-bit one is a call.
__device__ inline RowOf row_of_again(uint64_t B, uint64_t C, uint64_t L) {
    unsigned bx = blockIdx.x;
#ifndef CUDASIM
    asm("" : "+r"(bx));
#endif
    const unsigned b32 = (unsigned)B, ch = bx / b32, bi = bx - ch * b32;
    return RowOf{ch, ((uint64_t)bi * C + ch) * L};
}
// The real spectrum bins xk = X[k], xmk = X[m − k] (k = 0: X[0] and X[m], k = m/2: one bin, xk
// stored last, the value bwd_rows parks there) into the row's m + 1 float2 at spec +
// blockIdx.x·(m + 1): a 32-bit bin index (B·C·(m + 1) < 2^32, ops::fftconv::bwd_two_blocks).
// Where the spectra the kernels exchange (the filter's hf, the forward's A in p.spec / p.aspec)
// hold bin k (0 ≤ k ≤ m) of a row: natural order, but at m = 2^13 in 2-byte storage (four_step:
// the shapes of the tensor-core kernels, kernels/tcdft.cu: the filter's spectrum and the forward)
// the four-step order of their FFT, bin k < m at 256·(k mod 32) + k/32 and bin m at m: their bin
// pairs then read and store 8 consecutive bins per 8 lanes (in natural order one 8-byte access
// per 32-byte sector: 4× the L2 traffic). These kernels read them there (their own accesses
// become one per sector instead). The backward's own A (bwd_a_two / bwd_a_spec into ws) stays
// in natural order.
template <typename T> __device__ __forceinline__ bool four_step(unsigned m) { return sizeof(T) == 2 && m == 8192u; }
// four_step where the kernel is built for its m (MC = log2 m): at compile time, only the m = 2^13
// kernels (2-byte rows at n = 2^14 take them). The generic forward and G kernels never see those
// rows; the generic 128-register backward does (no post gate) and tests four_step at run time.
template <typename T, unsigned MC> constexpr bool four_step_built = MC == 13 && sizeof(T) == 2;
__device__ __forceinline__ unsigned spec_at(unsigned k, unsigned m, bool four) {
    return four && k < m ? 256u * (k & 31u) + (k >> 5) : k;
}
__device__ __forceinline__ void store_bins(uint64_t spec, unsigned m, float2 xk, float2 xmk, unsigned k) {
    float2* ws = reinterpret_cast<float2*>(spec);
    const unsigned r = blockIdx.x * (m + 1);
    ws[r + m - k] = xmk;
    ws[r + k] = xk;
}
// store_bins of the bin pair (zk, zmk) of the row's packed m-point spectrum, split here: the
// backward's A kernels (fwd's SPEC store in bwd_a_two, bwd_a_spec).
__device__ __forceinline__ void store_spectrum(uint64_t spec, unsigned m, float2 zk, float2 zmk, float2 w, unsigned k) {
    float2 xk, xmk;
    split(zk, zmk, w, k, &xk, &xmk);
    store_bins(spec, m, xk, xmk, k);
}
// grad_post = grad_y ⊙ inner over the block's row (hyena::mul_into: 16-byte accesses where the
// row allows): the two-block backward given the forward's `inner` (bwd_a_spec, or bwd_g_two when
// no A kernel ran).
template <typename T> __device__ __forceinline__ void grad_post_from_inner(const HyenaFftConvBwdParams& p) {
    const RowOf row = row_of(p.b, p.c, p.l);
    hyena::mul_into<T>(row.at<const T>(p.inner), row.at<const T>(p.grad_y), row.at<T>(p.grad_post), p.l, threadIdx.x, blockDim.x);
}

// The row pointers, the alignment test and D of the forward's passes after the FFT.
template <typename T> struct FwdRows {
    const T* v;
    const T* pre;
    const T* post;
    T* y;
    bool vec;
    float dd;
    T* inner;  // the `inner` kernels' row of p.inner, else null
};
// INNER (hyena_fftconv_fwd_inner_*, and with TWO hyena_fftconv_fwd_2b_inner_*): also writes
// conv + D·a to p.inner (the kernel without it is the same code with that store compiled out).
// TWO (hyena_fftconv_fwd_2b_*, two 512-thread blocks per SM on sm_90: 64 registers; only shapes
// with R0 ∈ {2, 4}, ops::fftconv::fwd_two_blocks: 4K < L ≤ 8K among
// them): one butterfly live in registers everywhere. The fused pass parks the slot's butterflies
// (fused_read_park), runs its bin pairs as loops (for_each_pair, ROLLED) and stores them back,
// and the inverse first pass runs as a middle pass at Ns = 1 after one more barrier (12 per block
// at 8K, within issue 11's bound of ⌈log₁₆ n⌉ + 2 per FFT); the row pointers, the alignment test
// and D are formed where used, not held across the FFT. ptxas sm_90: 64 registers, no spills
// (with the R0 = 8/16 arms of P0 and the last pass, or unrolled pair loops, 36–998 B).
// SPEC (with TWO: the backward's hyena_fftconv_bwd_a_2b_*, bwd_a_two, and with INNER the forward's
// hyena_fftconv_fwd_2b_inner_spec_*, whose spectrum the backward reads in place of its A kernel):
// also writes the row's real spectrum X[k], k = 0 … m (X[0] and X[m] real), as m + 1 float2 at
// spec + blockIdx.x·(m + 1).
// MC (the *_m13 / *_m12 kernels): log2 m at compile time (plan_for: a trap on any other launch), so
// the plan, the layouts, the pass loops and the second plane's offset m are constants (see MC_TWO).
template <typename T, bool INNER, bool TWO = false, bool SPEC = false, unsigned MC = 0>
__device__ __forceinline__ void fwd(const HyenaFftConvFwdParams p, uint64_t spec = 0) {
    using namespace smfft;
    HYENA_DYN_SHARED(float, z);
    __shared__ float tw_re[HYENA_TW_PADDED], tw_im[HYENA_TW_PADDED];
    const Plan pl = plan_for<MC>(p.log2n);
    check_shape(pl.M);
    if (pl.rL != 4) __trap();  // m ≥ 16: the one fused pass below
    const unsigned m = pl.m;
    const uint64_t L = p.l;
    // a = pre ⊙ v kept for the D·a term, as two planes (even and odd t): 4-byte accesses.
    float* ae = z + 2 * m;
    float* ao = ae + (L + 1) / 2;
    if constexpr (TWO) trap_unless_two_block(pl);
    const RowOf row = row_of(p.b, p.c, L);
    const T* __restrict__ v = row.at<const T>(p.v);
    const T* __restrict__ pre = row.at<const T>(p.pre);
    const T* __restrict__ post = row.at<const T>(p.post);
    const float2* __restrict__ hf = reinterpret_cast<const float2*>(p.hf) + row.ch * (uint64_t)(m + 1);
    const float dd = to_f32<T>(reinterpret_cast<const T*>(p.d)[row.ch]);
    T* __restrict__ y = row.at<T>(p.y);
    // inner's row is formed where it is stored (rows(): FwdRows::inner, once per output call), not
    // held: a pointer live across the FFT spilled 8 B in the 2-byte instances on sm_90.
    const bool vec = aligned2<T>(v) && aligned2<T>(pre) && aligned2<T>(post) && aligned2<T>(y) && (!INNER || aligned2<T>(row.at<T>(p.inner)));
    static_assert(!SPEC || TWO, "the spectrum store is the two-block kernels'");
    // The values the passes after the FFT use: held (the 128-register kernels), or formed again
    // where used in the two-block kernel, where each held value costs one of 64 registers.
    // The row (its offset and channel) too in the `inner` two-block kernels built for their length:
    // held across the FFT it spilled 8 B (bf16) and 4 B (f16) on sm_90. (Formed again in every
    // two-block kernel, the generic ones spilled 16–68 B instead: ptxas's choice, taken as found.)
    auto row_now = [&]() {
        if constexpr (TWO && INNER && MC != 0) return row_of_again(p.b, p.c, L);
        else return row;
    };
    auto rows = [&]() {
        if constexpr (TWO) {
            const RowOf rw = row_now();
            const T* rv = rw.at<const T>(p.v);
            const T* rp = rw.at<const T>(p.pre);
            const T* rq = rw.at<const T>(p.post);
            T* ry = rw.at<T>(p.y);
            T* rz = INNER ? rw.at<T>(p.inner) : nullptr;
            const bool rvec = aligned2<T>(rv) && aligned2<T>(rp) && aligned2<T>(rq) && aligned2<T>(ry) && aligned2<T>(rz);
            return FwdRows<T>{rv, rp, rq, ry, rvec, to_f32<T>(reinterpret_cast<const T*>(p.d)[rw.ch]), rz};
        } else {
            return FwdRows<T>{v, pre, post, y, vec, dd, INNER ? row.at<T>(p.inner) : nullptr};
        }
    };
    if ((uint64_t)m < L) __trap();  // n ≥ 2L (fwd_p0, fwd_last)
    load_tw(tw_re, tw_im);
    const Tw tw = {tw_re, tw_im};

    // Point j of the m-point signal is z[j] = a[2j] + i·a[2j+1] (zero padded); P0 loads it
    // (fwd_p0), this keeps a for the D·a term.
    auto keep = [&](unsigned pt, float2 a, bool full) {
        const uint64_t t = 2 * (uint64_t)pt;
        if (full) {
            ae[pt] = a.x;
            ao[pt] = a.y;
            return;
        }
        if (t < L) ae[pt] = a.x;
        if (t + 1 < L) ao[pt] = a.y;
    };
    // Split, ×hf, fold.
    auto pair = [&](auto, float2& zk, float2& zmk, unsigned k, float2 w, unsigned, unsigned) {
        float2 xk, xmk;
        split(zk, zmk, w, k, &xk, &xmk);
        // The forward's spectrum store (fwd_2b_inner_spec) from this split; bwd_a_two's takes a
        // first walk (below): this store in its pair loop spilled 20 B in its generic instances.
        constexpr bool four = four_step_built<T, MC>;
        const unsigned ik = spec_at(k, m, four), imk = spec_at(m - k, m, four);
        if constexpr (SPEC && INNER) {
            // k = m/2: one bin, xk stored last (as store_bins). The row's base formed as a pointer
            // in the m = 2^13 kernel and as a 32-bit bin index in the generic ones: ptxas spilled
            // 16 B (sm_90, bf16) in the first with the index and 4 B in the second with the pointer.
            float2* ws = reinterpret_cast<float2*>(spec);
            const unsigned r = blockIdx.x * (m + 1);
            if constexpr (four) {
                ws += r;
                ws[imk] = xmk;
                ws[ik] = xk;
            } else {
                ws[r + imk] = xmk;
                ws[r + ik] = xk;
            }
        }
        float2 z1, z2;
        const float2* __restrict__ hr = TWO ? reinterpret_cast<const float2*>(p.hf) + row.ch * (uint64_t)(m + 1) : hf;
        fold(cmul(xk, hr[ik]), cmul(xmk, hr[imk]), w, k, &z1, &z2);
        zmk = z2;
        zk = z1;  // last: zk and zmk may be one register (k = 0, k = m/2)
    };
    // y = post ⊙ (conv + D·a): hf carries 1/n, so the unnormalised inverse gives the convolution;
    // with `inner`, conv + D·a also goes there (the backward's grad_post = grad_y ⊙ inner).
    // s[q] is point j + q·cnt of the result; `full`: every one in range, 2-element aligned rows.
    typedef typename Vec2<T>::type V2;
    auto out = [&](unsigned j, unsigned cnt, const auto& s, bool full) {
        const auto [v, pre, post, y, vec, dd, zr] = rows();
        constexpr int H = sizeof(s) / sizeof(float2);
        if (sizeof(T) == 2 && full) {  // f32: the checked path (as fwd_p0)
            V2 gp[H];
            float2 a[H];
            if (post) {
#pragma unroll
                for (int q = 0; q < H; ++q) gp[q] = ld_vec2(reinterpret_cast<const V2*>(post + 2 * (uint64_t)(j + q * cnt)));
            }
#pragma unroll
            for (int q = 0; q < H; ++q) {
                const unsigned pt = j + q * cnt;
                a[q] = make_float2(ae[pt], ao[pt]);
            }
#pragma unroll
            for (int q = 0; q < H; ++q) {
                float y0 = s[q].x + dd * a[q].x, y1 = s[q].y + dd * a[q].y;
                V2 w;
                if constexpr (INNER) {
                    w.x = from_f32<T>(y0);
                    w.y = from_f32<T>(y1);
                    st_vec2(reinterpret_cast<V2*>(zr + 2 * (uint64_t)(j + q * cnt)), w);
                }
                if (post) {
                    y0 *= to_f32<T>(gp[q].x);
                    y1 *= to_f32<T>(gp[q].y);
                }
                w.x = from_f32<T>(y0);
                w.y = from_f32<T>(y1);
                st_vec2(reinterpret_cast<V2*>(y + 2 * (uint64_t)(j + q * cnt)), w);
            }
            return;
        }
#pragma unroll
        for (int q = 0; q < H; ++q) {
            const unsigned pt = j + q * cnt;
            const uint64_t t = 2 * (uint64_t)pt;
            if (t < L) {
                const float2 a = make_float2(ae[pt], t + 1 < L ? ao[pt] : 0.f);
                float y0 = s[q].x + dd * a.x;
                float y1 = t + 1 < L ? s[q].y + dd * a.y : 0.f;
                if constexpr (INNER) store2<T>(zr, t, L, vec, y0, y1);
                if (post) {
                    const float2 g = load2<T>(post, t, L, vec);
                    y0 *= g.x;
                    y1 *= g.y;
                }
                store2<T>(y, t, L, vec, y0, y1);
            }
            fence_loads();
        }
    };
    // One convolution: the shared first and last passes (fwd_p0 / fwd_last, also the backward's), the middle passes, and the fused pass between them.
    auto radix0 = [&](auto f) {
        if constexpr (TWO) with_r0_small(pl.r0, f);
        else with_r0(pl.r0, f);
    };
    radix0([&](auto r) { fwd_p0<decltype(r)::value, T, true>(z, pl, v, pre, L, vec, keep); });
    __syncthreads();
    const Layout in = mids<false>(z, 1, pl, tw);
    // m ≥ 16 (ops::fftconv::fft_size: n ≥ 32), so rL = 4: one instance of the fused pass. With the
    // four radices in a `switch` (as the backward has), nvcc 13.0 filed most of the radix-16
    // arm's SASS under the radix-4 arm's line, and the estimate counted it as never run
    // (docs/GPU_MODEL.md, est16). The `inner` kernel took a pass with every butterfly in registers
    // until 2026-12-05 (fused_pass_in_registers: the model put it 8.6 % below this one at m =
    // 16384, which this path no longer takes, and 8.8 % above it at 8K; docs/GPU_MODEL.md, "The
    // in-register fused passes re-judged"): it takes this one now.
    if constexpr (SPEC && !INNER) {
        // bwd_a_two: the row's real spectrum to spec in a first walk (store_spectrum: k = m/2 one
        // bin, xk last, the value bwd_rows parks there; a 32-bit bin index).
        auto spec_pair = [&](auto, float2& zk, float2& zmk, unsigned k, float2 w, unsigned, unsigned) { store_spectrum(spec, m, zk, zmk, w, k); };
        fused_pass_two_blocks(z, pl, in, tw, pair, spec_pair);
    } else if constexpr (TWO) fused_pass_two_blocks(z, pl, in, tw, pair);  // SPEC && INNER: `pair` stores
    else fused_pass<16, 1>(z, pl, in, tw, pair);
    const Layout last = mids<true>(z, 1, pl, tw);
    radix0([&](auto r) { fwd_last<decltype(r)::value>(z, pl, last, tw, L, rows().vec, out); });
}

// The backward's row outputs from G (bwd_rows, bwd_g_two): grad_v = (s + D·g) ⊙ pre, grad_pre =
// (s + D·g) ⊙ v, with `inner` grad_post = grad_y ⊙ inner, and the partial sum of g·a for grad_D in
// fp64 on the way (products of fp32 values are exact there; see bwd_reduce for the accuracy
// argument). s[q] is point j + q·cnt of the inverse of G·conj(H) (fwd_last); `full`: every one in
// range and the rows 2-element aligned. 2-byte storage with `full` (every butterfly but the one at
// the row's end) issues the loads of each input for up to 4 points back to back, no bounds test, no
// fence between them (up to 4 loads per input in flight instead of 1: 4·4 registers of packed pairs
// for G's four inputs; all H = 8 at once spilled 4 B in the f16 instance on sm_90); f32 rows and the
// row's end take the checked path, one point at a time (as the forward).
template <typename T> struct BwdRowsG {
    const T* v;
    const T* pre;
    const T* post;
    const T* gy;
    const T* inner;  // the forward's conv + D·a, or 0 (then no grad_post here)
    T* gv;
    T* gpre;
    T* gpost;
    float dd;
};
template <typename T, int H>
__device__ __forceinline__ void bwd_out_g(const BwdRowsG<T>& r, unsigned j, unsigned cnt, const float2 (&s)[H], bool full, uint64_t L, bool vec, double& gd) {
    using namespace smfft;
    constexpr int GR = H < 4 ? H : 4;
    typedef typename Vec2<T>::type V2;
    if (sizeof(T) == 2 && full) {
#pragma unroll
        for (int q0 = 0; q0 < H; q0 += GR) {
            V2 xv[GR], xg[GR], xp[GR], xq[GR], xz[GR];
#pragma unroll
            for (int i = 0; i < GR; ++i) {
                const uint64_t t = 2 * (uint64_t)(j + (q0 + i) * cnt);
                xv[i] = ld_vec2(reinterpret_cast<const V2*>(r.v + t));
                xg[i] = ld_vec2(reinterpret_cast<const V2*>(r.gy + t));
                if (r.pre) xp[i] = ld_vec2(reinterpret_cast<const V2*>(r.pre + t));
                if (r.post) xq[i] = ld_vec2(reinterpret_cast<const V2*>(r.post + t));
                if (r.inner) xz[i] = ld_vec2(reinterpret_cast<const V2*>(r.inner + t));
            }
#pragma unroll
            for (int i = 0; i < GR; ++i) {
                const int q = q0 + i;
                const uint64_t t = 2 * (uint64_t)(j + q * cnt);
                const float2 vt = make_float2(to_f32<T>(xv[i].x), to_f32<T>(xv[i].y));
                const float2 pt2 = r.pre ? make_float2(to_f32<T>(xp[i].x), to_f32<T>(xp[i].y)) : make_float2(1.f, 1.f);
                const float2 po2 = r.post ? make_float2(to_f32<T>(xq[i].x), to_f32<T>(xq[i].y)) : make_float2(1.f, 1.f);
                const float g0 = to_f32<T>(xg[i].x) * po2.x, g1 = to_f32<T>(xg[i].y) * po2.y;
                gd = fma((double)g0, (double)(vt.x * pt2.x), gd);
                gd = fma((double)g1, (double)(vt.y * pt2.y), gd);
                const float ga0 = s[q].x + r.dd * g0, ga1 = s[q].y + r.dd * g1;
                V2 w;
                w.x = from_f32<T>(ga0 * pt2.x);
                w.y = from_f32<T>(ga1 * pt2.y);
                st_vec2(reinterpret_cast<V2*>(r.gv + t), w);
                if (r.gpre) {
                    w.x = from_f32<T>(ga0 * vt.x);
                    w.y = from_f32<T>(ga1 * vt.y);
                    st_vec2(reinterpret_cast<V2*>(r.gpre + t), w);
                }
                if (r.inner) {  // grad_post = grad_y ⊙ inner (out_a's product, in that order)
                    w.x = from_f32<T>(to_f32<T>(xz[i].x) * to_f32<T>(xg[i].x));
                    w.y = from_f32<T>(to_f32<T>(xz[i].y) * to_f32<T>(xg[i].y));
                    st_vec2(reinterpret_cast<V2*>(r.gpost + t), w);
                }
            }
            fence_loads();
        }
        return;
    }
#pragma unroll
    for (int q = 0; q < H; ++q) {
        const uint64_t t = 2 * (uint64_t)(j + q * cnt);
        if (t < L) {
            const float2 vt = load2<T>(r.v, t, L, vec), gyt = load2<T>(r.gy, t, L, vec);
            const float2 pt2 = r.pre ? load2<T>(r.pre, t, L, vec) : make_float2(1.f, 1.f);
            const float2 po2 = r.post ? load2<T>(r.post, t, L, vec) : make_float2(1.f, 1.f);
            const float g0 = gyt.x * po2.x, g1 = gyt.y * po2.y;
            gd = fma((double)g0, (double)(vt.x * pt2.x), gd);  // t + 1 ≥ L: zero
            gd = fma((double)g1, (double)(vt.y * pt2.y), gd);
            const float ga0 = s[q].x + r.dd * g0, ga1 = s[q].y + r.dd * g1;
            store2<T>(r.gv, t, L, vec, ga0 * pt2.x, ga1 * pt2.y);
            if (r.gpre) store2<T>(r.gpre, t, L, vec, ga0 * vt.x, ga1 * vt.y);
            if (r.inner) {
                const float2 zt = load2<T>(r.inner, t, L, vec);
                store2<T>(r.gpost, t, L, vec, zt.x * gyt.x, zt.y * gyt.y);
            }
        }
        fence_loads();
    }
}

// grad_D's part of one row (bwd_rows, bwd_g_two): the threads' fp64 sums added in a fixed shuffle
// order per warp, then the warps' sums in order by thread 0, into ws_d[blockIdx.x] (deterministic).
// All threads call it; red holds a double per warp.
__device__ inline void store_row_sum(double gd, double* red, uint64_t ws_d) {
    for (int o = 16; o > 0; o /= 2) gd += __shfl_down_sync(0xffffffffu, gd, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = gd;
    __syncthreads();
    if (threadIdx.x == 0) {
        double s = 0.0;
        for (unsigned w = 0; w < (blockDim.x + 31) / 32; ++w) s += red[w];
        reinterpret_cast<float*>(ws_d)[blockIdx.x] = (float)s;
    }
}

// Threads per block of the backward kernels are at most this (bwd_reduce's tree).
#define HYENA_FFTCONV_MAX_BLOCK 512
// Blocks per SM that a kernel marked with it asks ptxas to fit (`__launch_bounds__(
// HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS)`: ≤ 64 registers at 512 threads) on sm_90,
// where the time model is made (H200/H100). sm_80 keeps one: its ptxas spilled 72 B at 64 registers
// in bwd_reduce, and the project's kernels spill nothing on either architecture.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define HYENA_FFTCONV_TWO_BLOCKS 2
#else
#define HYENA_FFTCONV_TWO_BLOCKS 1
#endif

// Backward, one block per (b, c) row, m/16 threads (ops::fftconv::bwd_block_for: one radix-16
// butterfly per thread in a middle pass). Shared: zA (m complex: A = FFT(a), then the recomputed
// convolution h ∗ a) and zG (m complex: G = FFT(g), then grad of a before the D term), each as
// two float planes; the two FFTs run between the same barriers (NB = 2: one buffer after the
// other within each pass). Fused pass: X_A is split and parked in A's own slots; then per bin
// pair of G: ws = X_G·conj(X_A), G·conj(H) and A·H folded back.
// The forward's machinery (branch bwd10): the precomputed twiddle table (load_tw: no sincospif;
// it was 765 per block, ~7 % of the 8K row), the forward's P0 on each buffer (fwd_p0: only the
// R0/2 low points of a butterfly are loaded, the zero half of the padded a and g is never read or
// multiplied, and 2-byte rows issue a butterfly's loads back to back) and its last pass
// (fwd_last: only the outputs t < L are computed), with the backward's own output hook.
template <typename T, bool A, unsigned MC = 0> __device__ __forceinline__ void bwd_rows(const HyenaFftConvBwdParams p) {
    using namespace smfft;
    HYENA_DYN_SHARED(float, za);
    __shared__ float tw_re[HYENA_TW_PADDED], tw_im[HYENA_TW_PADDED];
    __shared__ double red[HYENA_FFTCONV_MAX_BLOCK / 32];
    const Plan pl = plan_for<MC>(p.log2n);
    check_shape(pl.M);
    const unsigned m = pl.m;
    const uint64_t L = p.l;
    const RowOf row = row_of(p.b, p.c, L);
    const T* __restrict__ v = row.at<const T>(p.v);
    const T* __restrict__ pre = row.at<const T>(p.pre);
    const T* __restrict__ post = row.at<const T>(p.post);
    const T* __restrict__ gy = row.at<const T>(p.grad_y);
    const float2* __restrict__ hf = reinterpret_cast<const float2*>(p.hf) + row.ch * (uint64_t)(m + 1);
    const float dd = to_f32<T>(reinterpret_cast<const T*>(p.d)[row.ch]);
    float2* __restrict__ ws = reinterpret_cast<float2*>(p.ws) + (uint64_t)blockIdx.x * (m + 1);
    T* __restrict__ gv_out = row.at<T>(p.grad_v);
    T* __restrict__ gpre = row.at<T>(p.grad_pre);
    T* __restrict__ gpost = row.at<T>(p.grad_post);
    // A (hyena_fftconv_bwd_*): A·H inverted too, grad_post from it (out_a) when asked for. Else
    // (hyena_fftconv_bwd_g_*, the forward's inner value given with grad_post) no A·H and no inverse
    // of A: grad_post = grad_y ⊙ inner in out_g. ops::fftconv picks the kernel by p.inner.
    const T* __restrict__ inner = gpost && !A ? row.at<const T>(p.inner) : nullptr;
    const bool vec = aligned2<T>(v) && aligned2<T>(pre) && aligned2<T>(post) && aligned2<T>(gy) &&
                     aligned2<T>(gv_out) && aligned2<T>(gpre) && aligned2<T>(gpost) && aligned2<T>(inner);
    if ((uint64_t)m < L) __trap();  // n ≥ 2L (fwd_p0, fwd_last)
    load_tw(tw_re, tw_im);  // read first after P0's barrier
    const Tw tw = {tw_re, tw_im};
    float* const zg = za + 2 * m;

    auto pair = [&](auto b, float2& zk, float2& zmk, unsigned k, float2 w, unsigned ik, unsigned imk) {
        if constexpr (decltype(b)::index == 0) {
            // Real spectrum of a, bins k and m − k (k = 0: X[0] and X[m], both real, packed in one slot).
            float2 xk, xmk;
            split(zk, zmk, w, k, &xk, &xmk);
            zmk = xmk;
            zk = k == 0 ? make_float2(xk.x, xmk.x) : xk;  // last: one variable for k = 0 and k = m/2
        } else {
            // ik, imk: the pair's points in storage, the same in A (one layout for both buffers).
            float2 gk, gmk, ak, amk;
            split(zk, zmk, w, k, &gk, &gmk);
            const float2 pa = ld(za, m, ik);
            if (k == 0) {
                ak = make_float2(pa.x, 0.f);
                amk = make_float2(pa.y, 0.f);
            } else {
                ak = pa;
                amk = imk != ik ? ld(za, m, imk) : pa;
            }
            const float2 hk = hf[spec_at(k, m, four_step<T>(m))], hmk = hf[spec_at(m - k, m, four_step<T>(m))];
            ws[k] = cmul(gk, conjf2(ak));
            if (k == 0 || imk != ik) ws[m - k] = cmul(gmk, conjf2(amk));
            float2 z1, z2;
            if constexpr (A) {
                fold(cmul(ak, hk), cmul(amk, hmk), w, k, &z1, &z2);
                if (k != 0 && imk != ik) st(za, m, imk, z2);
                st(za, m, ik, z1);
            }
            fold(cmul(gk, conjf2(hk)), cmul(gmk, conjf2(hmk)), w, k, &z1, &z2);
            zmk = z2;
            zk = z1;
        }
    };
    // Outputs from G (the correlation: grad_v, grad_pre; bwd_out_g) and from A (the convolution:
    // grad_post), G first; the partial sum of g·a for grad_D on the way.
    double gd = 0.0;
    typedef typename Vec2<T>::type V2;
    const BwdRowsG<T> rg = {v, pre, post, gy, inner, gv_out, gpre, gpost, dd};
    auto out_g = [&](unsigned j, unsigned cnt, const auto& s, bool full) { bwd_out_g<T>(rg, j, cnt, s, full, L, vec, gd); };
    // grad_post = grad_y ⊙ (conv + D·a) from A (the same two paths; 3 inputs).
    auto out_a = [&](unsigned j, unsigned cnt, const auto& s, bool full) {
        constexpr int H = sizeof(s) / sizeof(float2), GR = H < 4 ? H : 4;
        if (sizeof(T) == 2 && full) {
#pragma unroll
            for (int q0 = 0; q0 < H; q0 += GR) {
                V2 xv[GR], xg[GR], xp[GR];
#pragma unroll
                for (int i = 0; i < GR; ++i) {
                    const uint64_t t = 2 * (uint64_t)(j + (q0 + i) * cnt);
                    xv[i] = ld_vec2(reinterpret_cast<const V2*>(v + t));
                    xg[i] = ld_vec2(reinterpret_cast<const V2*>(gy + t));
                    if (pre) xp[i] = ld_vec2(reinterpret_cast<const V2*>(pre + t));
                }
#pragma unroll
                for (int i = 0; i < GR; ++i) {
                    const int q = q0 + i;
                    const float2 pt2 = pre ? make_float2(to_f32<T>(xp[i].x), to_f32<T>(xp[i].y)) : make_float2(1.f, 1.f);
                    V2 w;
                    w.x = from_f32<T>(to_f32<T>(xg[i].x) * (s[q].x + dd * to_f32<T>(xv[i].x) * pt2.x));
                    w.y = from_f32<T>(to_f32<T>(xg[i].y) * (s[q].y + dd * to_f32<T>(xv[i].y) * pt2.y));
                    st_vec2(reinterpret_cast<V2*>(gpost + 2 * (uint64_t)(j + q * cnt)), w);
                }
                fence_loads();
            }
            return;
        }
#pragma unroll
        for (int q = 0; q < H; ++q) {
            const uint64_t t = 2 * (uint64_t)(j + q * cnt);
            if (t < L) {
                const float2 vt = load2<T>(v, t, L, vec), gyt = load2<T>(gy, t, L, vec);
                const float2 pt2 = pre ? load2<T>(pre, t, L, vec) : make_float2(1.f, 1.f);
                store2<T>(gpost, t, L, vec, gyt.x * (s[q].x + dd * vt.x * pt2.x), gyt.y * (s[q].y + dd * vt.y * pt2.y));
            }
            fence_loads();
        }
    };
    // P0 of a = pre ⊙ v into A and g = grad_y ⊙ post into G (packed, zero padded), one buffer
    // after the other; the middle passes and the fused pass on both; the last passes, G first.
    // Barriers: 1 + 2·2·mids + 3 + 2·2·mids (+ 1 for grad_D's sum): m = 8192, 20.
    // P0's 2-byte fast path (a butterfly's loads back to back) on sm_90 only: on sm_80 the bf16 and
    // f16 instances spilled 4 B with it (the backward holds more live state than the forward),
    // there P0 takes fwd_p0's checked path (one point at a time, element loads: `vec` false).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
    const bool p0_vec = false;
#else
    const bool p0_vec = vec;
#endif
    auto keep = [](unsigned, float2, bool) {};
    with_r0(pl.r0, [&](auto r) {
        fwd_p0<decltype(r)::value, T>(za, pl, v, pre, L, p0_vec, keep);
        fwd_p0<decltype(r)::value, T>(zg, pl, gy, post, L, p0_vec, keep);
    });
    __syncthreads();
    const Layout in = mids<false>(za, 2, pl, tw);
    switch (pl.rL) {
    case 1: fused_pass<2, 2>(za, pl, in, tw, pair); break;
    case 2: fused_pass<4, 2>(za, pl, in, tw, pair); break;
    case 3: fused_pass<8, 2>(za, pl, in, tw, pair); break;
    default: fused_pass<16, 2>(za, pl, in, tw, pair); break;
    }
    // G's inverse, and A's only where grad_post needs it (za, zg adjacent: nb = 2 from za).
    const Layout last = mids<true>(A ? za : zg, A ? 2u : 1u, pl, tw);
    with_r0(pl.r0, [&](auto r) {
        fwd_last<decltype(r)::value>(zg, pl, last, tw, L, vec, out_g);
        if (A && gpost) fwd_last<decltype(r)::value>(za, pl, last, tw, L, vec, out_a);
    });
    store_row_sum(gd, red, p.ws_d);
}

// Backward of the two-block shapes (ops::fftconv::bwd_two_blocks: 2-byte storage, a post gate,
// the shapes of the forward's two-block kernel: 4K < L ≤ 8K among them) in two
// launches of one spectrum each, 64 registers on sm_90: two 512-thread blocks per SM (32 warps)
// where bwd_rows' two spectra (8n bytes of shared) and 128 registers hold one block (16 warps).
//   hyena_fftconv_bwd_a_2b_* (bwd_a_two): the forward's two-block kernel on a = pre ⊙ v with
//     grad_y as its post gate and grad_post as its output: grad_post = grad_y ⊙ (h ∗ a + D·a) (out_a's
//     value); and A = FFT(a), bins 0 … m, into the row's ws (fwd's SPEC store).
//   hyena_fftconv_bwd_g_2b_* (bwd_g_two): on g = grad_y ⊙ post, per bin pair: A from ws, ws =
//     G·conj(A) in its place, G·conj(H) folded back and inverted: grad_v, grad_pre and the row's
//     g·a (ws_d) by bwd_out_g, as bwd_rows. The reduce is unchanged. Given p.aspec (the forward's
//     A bins, the same values as A's kernel stores: the same FFT code), A is read there (ws only
//     written) and grad_post = grad_y ⊙ inner is formed here, and A's kernel is not launched.
// Cost over bwd_rows: A's bins written and read back (8(m + 1) bytes each way per row: 64 KiB at
// L = 8K, DRAM unless L2 still holds them) and v, pre read by both kernels; the same arithmetic
// per point as bwd_rows otherwise (ws the same values: split's X[0], X[m] are real, bin m/2 holds
// X[m/2] from xk in both).
template <typename T, unsigned MC = 0> __device__ __forceinline__ void bwd_a_two(const HyenaFftConvBwdParams p) {
    const HyenaFftConvFwdParams f = {p.v, p.pre, p.grad_y, p.hf, p.d, p.grad_post, 0, p.b, p.c, p.l, p.log2n, 0};
    fwd<T, false, true, true, MC>(f, p.ws);
}
// hyena_fftconv_bwd_a_spec_2b_* (bwd_a_spec): the A kernel of the same shapes given the forward's
// `inner` (the value before the post gate, ops::fftconv::gated_fftconv_bwd_spectrum_inner):
// grad_post = grad_y ⊙ inner needs no convolution, so the kernel is the forward's FFT of a = pre ⊙ v
// alone (P0, the middle passes, the last pass parked, fused_read_park) and A's bins into ws
// (store_spectrum, the bin pairs read only), then grad_post over the row (hyena::mul_into: 16-byte
// accesses where the row allows; the product bwd_out_g forms with `inner`, same bits). One FFT
// instead of bwd_a_two's two and no spectral product; shared memory the spectrum only (4n bytes:
// no a kept, no D·a term here).
template <typename T, unsigned MC = 0> __device__ __forceinline__ void bwd_a_spec(const HyenaFftConvBwdParams p) {
    using namespace smfft;
    HYENA_DYN_SHARED(float, z);
    __shared__ float tw_re[HYENA_TW_PADDED], tw_im[HYENA_TW_PADDED];
    const Plan pl = plan_for<MC>(p.log2n);
    check_shape(pl.M);
    trap_unless_two_block(pl);
    const unsigned m = pl.m;
    const uint64_t L = p.l;
    if ((uint64_t)m < L) __trap();  // n ≥ 2L (fwd_p0)
    load_tw(tw_re, tw_im);  // read first after P0's barrier
    const Tw tw = {tw_re, tw_im};
    {
        const RowOf row = row_of(p.b, p.c, L);
        const T* v = row.at<const T>(p.v);
        const T* pre = row.at<const T>(p.pre);
        auto keep = [](unsigned, float2, bool) {};
        with_r0_small(pl.r0, [&](auto r) { fwd_p0<decltype(r)::value, T, true>(z, pl, v, pre, L, aligned2<T>(v) && aligned2<T>(pre), keep); });
    }
    __syncthreads();
    const Layout in = mids<false>(z, 1, pl, tw);
    if (threadIdx.x < pair_slots(pl)) {
        const Pair pr = pair_of(threadIdx.x, pl);
        fused_read_park<16, true>(z, pl, in, tw, pr);  // a slot's bin pairs are its own points: no barrier
        auto spec_pair = [&](float2& zk, float2& zmk, unsigned k, float2 w, unsigned, unsigned) { store_spectrum(p.ws, m, zk, zmk, w, k); };
        for_each_pair<16, false, true>(z, pl, in, tw, pr, spec_pair);
    }
    grad_post_from_inner<T>(p);
}
template <typename T, unsigned MC = 0> __device__ __forceinline__ void bwd_g_two(const HyenaFftConvBwdParams p) {
    using namespace smfft;
    HYENA_DYN_SHARED(float, z);
    __shared__ float tw_re[HYENA_TW_PADDED], tw_im[HYENA_TW_PADDED];
    __shared__ double red[HYENA_FFTCONV_MAX_BLOCK / 32];
    const Plan pl = plan_for<MC>(p.log2n);
    check_shape(pl.M);
    trap_unless_two_block(pl);
    const unsigned m = pl.m;
    const uint64_t L = p.l;
    if ((uint64_t)m < L) __trap();  // n ≥ 2L (fwd_p0, fwd_last)
    // The row pointers, D and the alignment test formed where used (as fwd's two-block kernel: a
    // value held across the FFT costs one of 64 registers; so does the row's offset, formed again
    // from blockIdx.x: with RowOf held the kernel spilled 52 B).
    auto rows = [&]() {
        const RowOf row = row_of(p.b, p.c, L);
        return BwdRowsG<T>{row.at<const T>(p.v), row.at<const T>(p.pre), row.at<const T>(p.post), row.at<const T>(p.grad_y), nullptr,
                           row.at<T>(p.grad_v), row.at<T>(p.grad_pre), nullptr, to_f32<T>(reinterpret_cast<const T*>(p.d)[row.ch])};
    };
    auto aligned = [](const BwdRowsG<T>& r) {
        return aligned2<T>(r.v) && aligned2<T>(r.pre) && aligned2<T>(r.post) && aligned2<T>(r.gy) && aligned2<T>(r.gv) && aligned2<T>(r.gpre);
    };
    load_tw(tw_re, tw_im);  // read first after P0's barrier
    const Tw tw = {tw_re, tw_im};
    auto keep = [](unsigned, float2, bool) {};
    {
        const BwdRowsG<T> r = rows();
        const bool vec = aligned(r);
        with_r0_small(pl.r0, [&](auto rr) { fwd_p0<decltype(rr)::value, T, true>(z, pl, r.gy, r.post, L, vec, keep); });
    }
    __syncthreads();
    const Layout in = mids<false>(z, 1, pl, tw);
    // The first walk splits G and turns the row's ws from A into G·conj(A) (bins k and m − k; k =
    // 0: G[0], G[m]); the second splits G again and folds G·conj(H) back. 32-bit bin indices of ws
    // and hf (B·C·(m + 1) < 2^32, bwd_two_blocks), as fwd's SPEC store.
    auto correlate = [&](auto, float2& zk, float2& zmk, unsigned k, float2 w, unsigned, unsigned) {
        float2 gk, gmk;
        split(zk, zmk, w, k, &gk, &gmk);
        float2* ws = reinterpret_cast<float2*>(p.ws);
        const float2* a = p.aspec ? reinterpret_cast<const float2*>(p.aspec) : ws;  // the forward's A, or A's kernel's
        const unsigned r = blockIdx.x * (m + 1);
        // the forward's in its layout (spec_at), A's kernel's in natural order
        const bool four = p.aspec && four_step_built<T, MC>;
        const float2 ak = a[r + spec_at(k, m, four)], amk = a[r + spec_at(m - k, m, four)];
        ws[r + m - k] = cmul(gmk, conjf2(amk));
        ws[r + k] = cmul(gk, conjf2(ak));  // k = m/2: one bin, this value (bwd_rows stores only it)
    };
    auto pair = [&](auto, float2& zk, float2& zmk, unsigned k, float2 w, unsigned, unsigned) {
        float2 gk, gmk;
        split(zk, zmk, w, k, &gk, &gmk);
        const float2* hf = reinterpret_cast<const float2*>(p.hf);
        const unsigned h = blockIdx.x / (unsigned)p.b * (m + 1);
        float2 z1, z2;
        constexpr bool four = four_step_built<T, MC>;
        fold(cmul(gk, conjf2(hf[h + spec_at(k, m, four)])), cmul(gmk, conjf2(hf[h + spec_at(m - k, m, four)])), w, k, &z1, &z2);
        zmk = z2;
        zk = z1;
    };
    fused_pass_two_blocks(z, pl, in, tw, pair, correlate);
    const Layout last = mids<true>(z, 1, pl, tw);
    double gd = 0.0;
    auto out = [&](unsigned j, unsigned cnt, const auto& s, bool full) {
        const BwdRowsG<T> r = rows();
        bwd_out_g<T>(r, j, cnt, s, full, L, aligned(r), gd);
    };
    with_r0_small(pl.r0, [&](auto r) { fwd_last<decltype(r)::value>(z, pl, last, tw, L, aligned(rows()), out); });
    store_row_sum(gd, red, p.ws_d);
    // Given the forward's A (no A kernel ran), grad_post = grad_y ⊙ inner here, as bwd_a_spec would.
    if (p.aspec) grad_post_from_inner<T>(p);
}

// ---- Radix-2 FFTs of the reduce and of the multi-pass path, and their twiddle table -------------
// Twiddles W_n^x = e^{−2πi·x/n} (n = 2^E, 0 ≤ x < n) from a per-block table of three levels of
// a = ⌈E/3⌉ bits: W_n^x = W_n^{x mod 2^a} · W_n^{2^a·(⌊x/2^a⌋ mod 2^a)} · W_n^{2^{2a}·⌊x/2^{2a}⌋}.
// One table serves every twiddle of a kernel: the radix-2 stages (W_{2·span}^j = W_n^{j·n/(2·span)})
// and the four-step's inter-pass twiddles W_n^{k1·t2} (k1·t2 < n1·n2 = n). Entries: one sincospif
// each, of an exact argument (−2j/n: j < n ≤ 2^23, n a power of two), within 1 ulp; a lookup is
// two complex products of them, within about 4 ulp (u = 2^-24) — the FFT's own rounding grows like
// u·log2 n, so this is the same order (tests/all/fftconv_long.rs: f32 within 1e-5 of the f64
// reference). Table size 2·2^a + 2^(E−2a) entries (n = 2^17: 160), against one sincospif and one
// division per butterfly and per point before (≈ 5 per point in a column pass, ≈ 10 in a row pass).
#define HYENA_PTW_LEVEL 256  // entries per level: a ≤ 8, E ≤ 23 (LONG_MAX_LEN = 2^22: n = 2^23); a = ⌈E/3⌉ ≤ 7 up to n = 2^21 fills only 128 of them
struct PowTw {
    const float* re;
    const float* im;
    unsigned a, mask;
    __device__ float2 at(unsigned i) const { return make_float2(re[i], im[i]); }
    __device__ float2 get(unsigned x) const {
        return cmul(cmul(at(x & mask), at(HYENA_PTW_LEVEL + ((x >> a) & mask))), at(2 * HYENA_PTW_LEVEL + (x >> (2 * a))));
    }
};
// Fills the table of n = 2^E (re, im: 3·HYENA_PTW_LEVEL floats each) and waits for the block.
__device__ inline PowTw build_pow_tw(float* re, float* im, unsigned E) {
    if (E < 1 || E > 23) __trap();
    const unsigned a = (E + 2) / 3, size = 1u << a, top = 1u << (E > 2 * a ? E - 2 * a : 0u);
    const float scale = -2.0f / (float)(1u << E);  // a power of two: exact
    for (unsigned i = threadIdx.x; i < 3 * size; i += blockDim.x) {
        const unsigned lvl = i >> a, j = i & (size - 1);
        if (lvl == 2 && j >= top) continue;
        float s, c;
        sincospif((float)(j << (a * lvl)) * scale, &s, &c);  // j·2^(a·lvl) < n ≤ 2^23: exact in fp32
        re[lvl * HYENA_PTW_LEVEL + j] = c;
        im[lvl * HYENA_PTW_LEVEL + j] = s;
    }
    __syncthreads();
    PowTw t;
    t.re = re;
    t.im = im;
    t.a = a;
    t.mask = size - 1;
    return t;
}

// The radix-2 stage of span 1 (no twiddle) of the column FFTs of dif_cols/dit_cols, then a barrier.
__device__ inline void span1_stage(float* s, unsigned pl, unsigned log2n1, unsigned log2tc) {
    using smfft::ld;
    using smfft::st;
    const unsigned tc = 1u << log2tc;
    for (unsigned i = threadIdx.x; i < (1u << (log2n1 - 1 + log2tc)); i += blockDim.x) {
        const unsigned c = i & (tc - 1), bi = i >> log2tc;
        const unsigned a = 2 * bi * tc + c, b = a + tc;
        const float2 u = ld(s, pl, a), v = ld(s, pl, b);
        st(s, pl, a, cadd(u, v));
        st(s, pl, b, csub(u, v));
    }
    __syncthreads();
}

// In-place DIF FFTs of n1 = 2^log2n1 points down the tc = 2^log2tc columns of a tile (point (r, c)
// at r·tc + c; tc = 1: one row), natural order in, bit-reversed out. Data as two float planes `pl`
// floats apart (4-byte accesses: consecutive threads take consecutive columns, then consecutive
// butterflies). Two radix-2 stages per barrier (spans S and S/2 on the 4 points j + {0, S/2, S,
// 3S/2} of a group of 2S, in registers), a last radix-2 stage when log2 n1 is odd. One table
// lookup per 4 points: the stage-S twiddles are w = W_{2S}^j and W_{2S}^{j+S/2} = −i·w, the
// stage-S/2 one W_S^j = w². Twiddles from tw, the table of n = 2^E ≥ 2·n1.
__device__ inline void dif_cols(float* s, unsigned pl, unsigned log2n1, unsigned log2tc, const PowTw& tw, unsigned E) {
    using smfft::ld;
    using smfft::st;
    const unsigned tc = 1u << log2tc;
    unsigned ls = log2n1;  // log2(2S) of the next stage
    for (; ls >= 2; ls -= 2) {
        const unsigned S = 1u << (ls - 1), h = S >> 1;
        for (unsigned i = threadIdx.x; i < (1u << (log2n1 - 2 + log2tc)); i += blockDim.x) {
            const unsigned c = i & (tc - 1), bi = i >> log2tc, j = bi & (h - 1);
            const unsigned p0 = (((bi >> (ls - 2)) << ls) + j) * tc + c, p1 = p0 + h * tc, p2 = p0 + S * tc, p3 = p2 + h * tc;
            const float2 x0 = ld(s, pl, p0), x1 = ld(s, pl, p1), x2 = ld(s, pl, p2), x3 = ld(s, pl, p3);
            const float2 w = tw.get(j << (E - ls)), w2 = cmul(w, w);
            const float2 a0 = cadd(x0, x2), a2 = cmul(csub(x0, x2), w);
            const float2 d = csub(x1, x3);
            const float2 a1 = cadd(x1, x3), a3 = cmul(make_float2(d.y, -d.x), w);  // (−i·d)·w
            st(s, pl, p0, cadd(a0, a1));
            st(s, pl, p1, cmul(csub(a0, a1), w2));
            st(s, pl, p2, cadd(a2, a3));
            st(s, pl, p3, cmul(csub(a2, a3), w2));
        }
        __syncthreads();
    }
    if (ls == 1) {  // span 1: no twiddle
        span1_stage(s, pl, log2n1, log2tc);
    }
}

// In-place inverse DIT FFTs (conjugate twiddles, unnormalised) down the columns of a tile laid out
// as in dif_cols: bit-reversed order in, natural out. A first radix-2 stage (span 1) when log2 n1
// is odd, then spans h and 2h per barrier, mirroring dif_cols.
__device__ inline void dit_cols(float* s, unsigned pl, unsigned log2n1, unsigned log2tc, const PowTw& tw, unsigned E) {
    using smfft::ld;
    using smfft::st;
    const unsigned tc = 1u << log2tc;
    unsigned q = log2n1 & 1u;  // log2 of the next span
    if (q) {
        span1_stage(s, pl, log2n1, log2tc);
    }
    for (; q < log2n1; q += 2) {
        const unsigned h = 1u << q, S = 2 * h, ls = q + 2;
        for (unsigned i = threadIdx.x; i < (1u << (log2n1 - 2 + log2tc)); i += blockDim.x) {
            const unsigned c = i & (tc - 1), bi = i >> log2tc, j = bi & (h - 1);
            const unsigned p0 = (((bi >> q) << ls) + j) * tc + c, p1 = p0 + h * tc, p2 = p0 + S * tc, p3 = p2 + h * tc;
            const float2 x0 = ld(s, pl, p0), x1 = ld(s, pl, p1), x2 = ld(s, pl, p2), x3 = ld(s, pl, p3);
            const float2 w = conjf2(tw.get(j << (E - ls))), w2 = cmul(w, w);  // conj W_{2S}^j, conj W_S^j
            const float2 v1 = cmul(x1, w2), v3 = cmul(x3, w2);
            const float2 a0 = cadd(x0, v1), a1 = csub(x0, v1), a2 = cadd(x2, v3), a3 = csub(x2, v3);
            const float2 u2 = cmul(a2, w), t3 = cmul(a3, w);
            const float2 u3 = make_float2(-t3.y, t3.x);  // ·conj(−i) = ·i
            st(s, pl, p0, cadd(a0, u2));
            st(s, pl, p2, csub(a0, u2));
            st(s, pl, p1, cadd(a1, u3));
            st(s, pl, p3, csub(a1, u3));
        }
        __syncthreads();
    }
}

// ---- Column FFTs in registers (n1 ≤ 2^HYENA_LONG_REG_LOG2N1: L ≤ 65536) -----------------------
// Passes 1 and 3 at n1 ≤ 32 keep a whole column in one thread (a tile of blockDim columns): no
// shared tile, no barrier but the twiddle table's, and every twiddle of the column FFT
// a compile-time W_32 power. Against dif_cols/dit_cols (radix-2 pairs through shared memory, one
// barrier and one table lookup per 4 points and stage pair, runtime shifts for every index) that
// removes the shared round trips and the addressing: per column of 32 points, 16 input loads, 80
// butterflies of constant twiddles (16 in the first stage, whose upper inputs are the zero padding)
// and 32 workspace stores, each with its four-step twiddle (one PowTw lookup: 2 products).
// ops::fftconv launches them (hyena_fftconv_long_{cols,out,grad_h}_reg_*) at n1 ≤ 32 with no dynamic
// shared memory (LongPlan); long_cols / long_out / long_grad_h keep the shared tile for n1 > 32.
#define HYENA_LONG_REG_LOG2N1 5
// Threads per block of passes 1 and 3 (ops::fftconv::LONG_COLS_BLOCK). The register form of pass 1
// (hyena_fftconv_long_cols_reg_*) is compiled for 3 blocks per SM: ≤ 80 registers, 24 warps, no
// spills on sm_80/sm_90 (86 registers and 16 warps otherwise at n1 = 32).
#define HYENA_LONG_COLS_BLOCK 256
// Calls f(Radix<n1>()) with the column length n1 = 2^log2n1 at compile time, for the register
// kernels' n1 = 2 … 2^HYENA_LONG_REG_LOG2N1 (passes 1 and 3 share it); any other n1 traps
// (ops::fftconv launches the shared-tile kernels there).
template <class F> __device__ __forceinline__ void with_n1_reg(unsigned log2n1, F&& f) {
    static_assert(HYENA_LONG_REG_LOG2N1 == 5, "with_n1_reg lists every register n1");
    switch (log2n1) {
    case 1: f(Radix<2>()); break;
    case 2: f(Radix<4>()); break;
    case 3: f(Radix<8>()); break;
    case 4: f(Radix<16>()); break;
    case 5: f(Radix<32>()); break;
    default: __trap();
    }
}

// DIF FFT of N1 ≤ 32 points whose upper half is zero (the padding rows t1 ≥ n1/2), natural order
// in, bit-reversed out (x[r] = X[rev(r)]: the row order dif_cols leaves in the workspace).
template <int N1> __device__ inline void dif_reg(float2 (&x)[N1]) {
    constexpr int h = N1 / 2;
#pragma unroll
    for (int j = 0; j < h; ++j) x[j + h] = smfft::mul_w32<false>(x[j], j * (32 / N1));  // (x_j − 0)·W_N1^j
#pragma unroll
    for (int span = h / 2; span >= 1; span /= 2) {
#pragma unroll
        for (int i = 0; i < h; ++i) {  // the stage's N1/2 butterflies
            const int j = i % span, a = 2 * (i - j) + j, b = a + span;
            const float2 u = x[a], w = x[b];
            x[a] = cadd(u, w);
            x[b] = smfft::mul_w32<false>(csub(u, w), j * (16 / span));  // W_{2·span}^j = W_32^{16j/span}
        }
    }
}

// Inverse DIT FFT of N1 ≤ 32 points (conjugate twiddles, unnormalised), bit-reversed order in,
// natural out, as dit_cols; only the low half x[0 .. N1/2) is formed (outputs t1 ≥ n1/2 are
// t ≥ n/2 ≥ L, never kept).
template <int N1> __device__ inline void idit_reg_low(float2 (&x)[N1]) {
    constexpr int h = N1 / 2;
#pragma unroll
    for (int span = 1; span < h; span *= 2) {
#pragma unroll
        for (int i = 0; i < h; ++i) {
            const int j = i % span, a = 2 * (i - j) + j, b = a + span;
            const float2 u = x[a], w = smfft::mul_w32<true>(x[b], j * (16 / span));
            x[a] = cadd(u, w);
            x[b] = csub(u, w);
        }
    }
#pragma unroll
    for (int j = 0; j < h; ++j) x[j] = cadd(x[j], smfft::mul_w32<true>(x[j + h], j * (32 / N1)));
}

// First inverse pass of the reduce: radix R at Ns = 1 (no twiddle) on the folded spectrum in
// natural order, one butterfly per thread (m/R ≤ blockDim.x), written in the layout
// written_by(log2 R, 0) that the inverse middle passes read (as fused_store after a conv's fused
// pass). Reads take consecutive points per warp; the writes' swizzle keeps them conflict-free.
template <int R> __device__ inline void reduce_first_pass(float* buf, const smfft::Plan& pl) {
    using namespace smfft;
    const unsigned m = pl.m, cnt = m / R, j = threadIdx.x;
    const Layout out = written_by(ilog2(R), 0);
    float2 v[R];
    if (j < cnt) {
#pragma unroll
        for (int q = 0; q < R; ++q) v[q] = ld(buf, m, j + q * cnt);
        dft<R, true>(v);
    }
    __syncthreads();
    if (j < cnt) {
#pragma unroll
        for (int q = 0; q < R; ++q) st(buf, m, out(j * R) ^ out(q), v[q]);
    }
    __syncthreads();
}

// One block per channel: sum the B partial spectra in order, fold them into the packed m-point
// spectrum (natural order in shared memory), inverse FFT with the shared-memory path's Stockham
// passes -> grad_h; grad_D. Every thread sums bins k and m − k (k strided by blockDim: the B
// loads of a bin pair in flight per thread, as many pairs per block as threads). Barriers: 1
// (twiddle table) + 1 (the folded spectrum) + 2 per inverse pass but the last (m = 8192: 8).
// Banks: the fold stores bins k (ascending per warp) and m − k (descending), the passes are the
// conv's (swizzled): conflict-free; the radix-2 DIT with bit-reversed stores used before had 3.9
// wavefronts per request. (Fusing the sum into the first pass, one butterfly pair per thread as
// in the conv's fused pass, saves a barrier but leaves half the threads idle and serialises 32
// bin pairs per thread: tried, slower by the model.)
// Two blocks per SM on sm_90 (HYENA_FFTCONV_TWO_BLOCKS: ≤ 64 registers; ptxas: 64, no spills):
// 32 warps per SM at m = 8192 instead of 16 (shared 2 × (64 + 7) KiB), where the kernel is
// latency-bound at B = 1 (the first GPU's counters: these FFT passes issue ~1 instruction per 8.9
// clocks per warp; docs/GPU_MODEL.md). Only one butterfly is ever live (no parked pass, no pair of
// butterflies), so the 64-register budget costs no spill.
// Accuracy of the sums over the batch and the sequence: grad_D = Σ_b Σ_t g·a is an fp64 sum per
// row (bwd_rows: per-thread fp64 sums of exact fp64 products, an fp64 tree; error < 2^-40 of
// Σ|g·a| at L = 8192), rounded once to fp32 in ws_d, then the B row sums in fp64 and one rounding
// on store: ≈ 2 ulps whatever B·L. The spectra are summed over B in fp64 too (one rounding per
// bin), so grad_h = IFFT(Σ_b G·conj(A)) carries only the FFTs' O(u·log2 n) error.
template <typename T, unsigned MC = 0> __device__ inline void bwd_reduce(const HyenaFftConvBwdParams p) {
    using namespace smfft;
    HYENA_DYN_SHARED(float, z);  // m complex as two float planes
    __shared__ float tw_re[HYENA_TW_PADDED], tw_im[HYENA_TW_PADDED];
    const Plan pl = plan_for<MC>(p.log2n);
    const unsigned m = pl.m;
    // One butterfly per thread in every pass (ops::fftconv: blockDim = clamp(m/16, 32, 512), m ≤ 8192).
    check_shape(pl.M);
    if ((m >> pl.rL) > blockDim.x) __trap();
    const uint64_t L = p.l, B = p.b, ch = blockIdx.x;
    if ((uint64_t)m < L) __trap();  // n ≥ 2L (fwd_last)
    const float2* __restrict__ ws = reinterpret_cast<const float2*>(p.ws) + ch * B * (uint64_t)(m + 1);
    load_tw(tw_re, tw_im);
    const Tw tw = {tw_re, tw_im};
    const float inv_n = 1.0f / (float)(2u * m);  // a power of two: exact
    __syncthreads();  // the table, read by the fold
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
        // W_n^k; the table covers k < n/4, and k = m/2 = n/4 is −i.
        const float2 w = 2 * k == m ? make_float2(0.f, -1.f) : tw.get(pl.M + 1, k);
        float2 z1, z2;
        fold(sk, smk, w, k, &z1, &z2);
        st(z, m, k, z1);
        if (k != 0 && mk != k) st(z, m, mk, z2);
    }
    __syncthreads();
    switch (pl.rL) {
    case 1: reduce_first_pass<2>(z, pl); break;
    case 2: reduce_first_pass<4>(z, pl); break;
    case 3: reduce_first_pass<8>(z, pl); break;
    default: reduce_first_pass<16>(z, pl); break;
    }
    const Layout last = mids<true>(z, 1, pl, tw);
    T* __restrict__ gh = reinterpret_cast<T*>(p.grad_h) + ch * L;
    const bool vec = aligned2<T>(gh);
    // The forward's last pass: only the points t < L (the low half of each butterfly) are computed.
    auto out = [&](unsigned j, unsigned cnt, const auto& s, bool) {
        constexpr int H = sizeof(s) / sizeof(float2);
#pragma unroll
        for (int q = 0; q < H; ++q) store2<T>(gh, 2 * (uint64_t)(j + q * cnt), L, vec, s[q].x, s[q].y);
    };
    with_r0(pl.r0, [&](auto r) { fwd_last<decltype(r)::value>(z, pl, last, tw, L, vec, out); });
    if (threadIdx.x == 0) {
        const float* wd = reinterpret_cast<const float*>(p.ws_d) + ch * B;
        double s = 0.0;
        for (uint64_t b = 0; b < B; ++b) s += (double)wd[b];
        reinterpret_cast<T*>(p.grad_d)[ch] = from_f32<T>((float)s);
    }
}


// ---- Multi-pass (four-step) path for long rows ---------------------------------------------------
// n = n1·n2, t = n2·t1 + t2, k = k1 + n1·k2:  W_n^{tk} = W_{n1}^{t1 k1} · W_n^{t2 k1} · W_{n2}^{t2 k2}.
// The complex signal of a channel pair (ch = 2·cp, ch + 1 of one batch row) is z = a_ch + i·a_ch+1:
// one complex FFT serves two real rows; the row pass splits it by symmetry (lrow::Mirror, split).
// Workspace row-major [n1][n2]: row r holds k1 = rev(r) (column DIF output order), entry j of a
// row holds t2 = j after pass 1 and k2 = j after the row FFT (pass 2).

// log2 of the row length n2 (ops::fftconv::LONG_ROW_LOG2: 4096 at every n). Every pass takes it
// at compile time (row_log2 traps on any other launch): the column passes' loads and stores of a
// column (stride n2) have immediate offsets, and the row passes (lrow) unroll their middle-pass
// loop (one pass at n2 = 4096) with constant addressing: long_rows 128 -> 67 registers (16 -> 24
// warps per SM), 3552 -> 2880 SASS instructions; long_rows_bwd 7680 -> 6016 (docs/GPU_MODEL.md,
// "The row passes with n2 at compile time").
#define HYENA_LONG_ROW_LOG2 12
// blockDim of the row passes (lrow): one radix-16 butterfly per thread.
#define HYENA_LONG_ROW_THREADS ((1 << HYENA_LONG_ROW_LOG2) / 16)
__device__ inline unsigned row_log2(const HyenaFftConvLongParams& p) {
    if (p.log2n2 != HYENA_LONG_ROW_LOG2) __trap();
    return HYENA_LONG_ROW_LOG2;
}

// Block -> (channel pair, batch row, column tile) of the column passes; blockIdx.x = (cp·B + b)·nb + cb.
// Channels ch = 2·cp and ch + 1 of batch row b share one complex signal (a lone last channel of an
// odd C keeps the imaginary part 0); their rows are adjacent in [B, C, L] (off1 = off0 + L).
struct LongTile {
    uint64_t ch, b, rowid;  // ch = 2·cp (the pair's first channel); rowid = cp·B + b: the workspace slab
    uint64_t off0, off1;    // element offsets of rows (b, ch) and (b, ch + 1) in [B, C, L]
    unsigned col0;          // first column t2 of the tile
    bool has1;              // the pair's second channel ch + 1 exists
};
__device__ inline LongTile long_tile(const HyenaFftConvLongParams& p) {
    const unsigned nb = (1u << p.log2n2) >> p.log2tile;
    LongTile t;
    t.rowid = blockIdx.x / nb;
    t.col0 = (unsigned)(blockIdx.x % nb) << p.log2tile;
    t.ch = 2 * (t.rowid / p.b);
    t.b = t.rowid % p.b;
    t.has1 = t.ch + 1 < p.c;
    t.off0 = (t.b * p.c + t.ch) * p.l;
    t.off1 = t.off0 + p.l;
    return t;
}

// Pass 1's input at t (< L) of the pair's rows: a = pre ⊙ v of ch (real part) and ch + 1 (imaginary).
template <typename T> __device__ inline float2 pair_in(const T* v, const T* pre, uint64_t off0, uint64_t off1, uint64_t t, bool has1) {
    float re = to_f32<T>(v[off0 + t]), im = 0.f;
    if (pre) re *= to_f32<T>(pre[off0 + t]);
    if (has1) {
        im = to_f32<T>(v[off1 + t]);
        if (pre) im *= to_f32<T>(pre[off1 + t]);
    }
    return make_float2(re, im);
}

// Pass 1 at n1 = N1 ≤ 32: thread j's column t2 = col0 + j in registers (see dif_reg; the tile is
// blockDim columns); rows r ≥ N1/2 are the padding, r·n2 + t2 ≥ L the row's end.
template <typename T, int N1>
__device__ inline void cols_reg(const HyenaFftConvLongParams& p, const LongTile& tl, const PowTw& tw, const T* v, const T* pre, uint64_t off0, uint64_t off1) {
    const unsigned n2 = 1u << row_log2(p), tc = 1u << p.log2tile;
    float2* __restrict__ ws = reinterpret_cast<float2*>(p.ws) + tl.rowid * ((uint64_t)N1 * n2);
    if (tc != blockDim.x) __trap();  // one column per thread (ops::fftconv's LongPlan)
    const unsigned t2 = tl.col0 + threadIdx.x;
    float2 x[N1];
    if ((uint64_t)(N1 / 2 - 1) * n2 + t2 < p.l) {
        // The whole column is in the row: every load of a tensor issued before any is used
        // (N1 requests in flight per warp, no test per point). A lone channel (no ch + 1) reads
        // its own row in ch + 1's place (L2 hits) and keeps 0.
        const uint64_t o1 = tl.has1 ? off1 : off0;
        T a0[N1 / 2], a1[N1 / 2];
#pragma unroll
        for (int r = 0; r < N1 / 2; ++r) {
            a0[r] = v[off0 + (uint64_t)r * n2 + t2];
            a1[r] = v[o1 + (uint64_t)r * n2 + t2];
        }
#pragma unroll
        for (int r = 0; r < N1 / 2; ++r) x[r] = make_float2(to_f32<T>(a0[r]), to_f32<T>(a1[r]));
        if (pre) {
#pragma unroll
            for (int r = 0; r < N1 / 2; ++r) {
                a0[r] = pre[off0 + (uint64_t)r * n2 + t2];
                a1[r] = pre[o1 + (uint64_t)r * n2 + t2];
            }
#pragma unroll
            for (int r = 0; r < N1 / 2; ++r) x[r] = make_float2(x[r].x * to_f32<T>(a0[r]), x[r].y * to_f32<T>(a1[r]));
        }
        if (!tl.has1) {
#pragma unroll
            for (int r = 0; r < N1 / 2; ++r) x[r].y = 0.f;
        }
    } else {
#pragma unroll
        for (int r = 0; r < N1 / 2; ++r) {
            const uint64_t t = (uint64_t)r * n2 + t2;
            x[r] = t < p.l ? pair_in<T>(v, pre, off0, off1, t, tl.has1) : make_float2(0.f, 0.f);
        }
    }
    dif_reg<N1>(x);
#pragma unroll
    for (int r = 0; r < N1; ++r) ws[(uint64_t)r * n2 + t2] = cmul(x[r], tw.get((unsigned)smfft::bitrev(r, smfft::ilog2(N1)) * t2));
}

// Pass 1 at n1 ≤ 2^HYENA_LONG_REG_LOG2N1 (hyena_fftconv_long_cols_reg_*): the columns in registers
// (cols_reg), one per thread; no shared tile. Other n1: trap (ops::fftconv launches long_cols).
template <typename T> __device__ inline void long_cols_reg(const HyenaFftConvLongParams p) {
    __shared__ float ptw_re[3 * HYENA_PTW_LEVEL], ptw_im[3 * HYENA_PTW_LEVEL];
    const unsigned log2n1 = (unsigned)p.log2n1;
    const PowTw tw = build_pow_tw(ptw_re, ptw_im, log2n1 + row_log2(p));
    const LongTile tl = long_tile(p);
    const T* __restrict__ v = reinterpret_cast<const T*>(p.v);
    const T* __restrict__ pre = p.pre ? reinterpret_cast<const T*>(p.pre) : nullptr;
    with_n1_reg(log2n1, [&](auto r1) { cols_reg<T, decltype(r1)::value>(p, tl, tw, v, pre, tl.off0, tl.off1); });
}

// Pass 1: a = pre ⊙ v of channels ch, ch + 1 (zero padded to n), n1-point FFTs down the tile's columns,
// twiddle W_n^{t2·k1}, store to ws[rowid][r][t2]. (Filter: v = h, B = 1, pre = 0, ws = hf.)
template <typename T> __device__ inline void long_cols(const HyenaFftConvLongParams p) {
    HYENA_DYN_SHARED(float, s);  // the tile, n1·tc complex as two float planes
    __shared__ float ptw_re[3 * HYENA_PTW_LEVEL], ptw_im[3 * HYENA_PTW_LEVEL];
    const unsigned log2n1 = (unsigned)p.log2n1, log2tc = (unsigned)p.log2tile;
    const unsigned n1 = 1u << log2n1, n2 = 1u << p.log2n2, tc = 1u << log2tc, N = n1 * tc;
    const unsigned E = log2n1 + (unsigned)p.log2n2;
    const PowTw tw = build_pow_tw(ptw_re, ptw_im, E);
    const uint64_t n = (uint64_t)n1 * n2, L = p.l;
    const LongTile tl = long_tile(p);
    const uint64_t off0 = tl.off0, off1 = tl.off1;
    const T* __restrict__ v = reinterpret_cast<const T*>(p.v);
    const T* __restrict__ pre = p.pre ? reinterpret_cast<const T*>(p.pre) : nullptr;
    // Rows t1 ≥ n1/2 are padding (t ≥ n/2 ≥ L).
    for (unsigned i = threadIdx.x; i < n1 * tc; i += blockDim.x) {
        const unsigned r = i >> log2tc, c = i & (tc - 1);
        const uint64_t t = (uint64_t)r * n2 + tl.col0 + c;
        smfft::st(s, N, i, t < L ? pair_in<T>(v, pre, off0, off1, t, tl.has1) : make_float2(0.f, 0.f));
    }
    __syncthreads();
    dif_cols(s, N, log2n1, log2tc, tw, E);
    float2* __restrict__ ws = reinterpret_cast<float2*>(p.ws) + tl.rowid * n;
    for (unsigned i = threadIdx.x; i < N; i += blockDim.x) {
        const unsigned r = i >> log2tc, c = i & (tc - 1);
        const unsigned t2 = tl.col0 + c;
        ws[(uint64_t)r * n2 + t2] = cmul(smfft::ld(s, N, i), tw.get(rev(r, log2n1) * t2));
    }
}

// ---- The row FFTs of pass 2: radix-16 Stockham passes in registers ------------------------------
// A workspace row is n2 = 2^N2 points, N2 a multiple of 4 (ops::fftconv's LongPlan: n2 = 4096 for
// every n), one block of n2/16 threads per row, one radix-16 butterfly per thread and pass (the
// shared path's Stockham passes, smfft: natural order in and out, no bit reversal):
//   P0 (Ns = 1) straight from the workspace row; N2/4 − 2 middle passes (in place: read, barrier,
//   write, barrier); the last forward pass (Ns = n2/16), after which thread j holds bins
//   k2 = j + q·n2/16 (q < 16) in registers: the spectral product happens there, and the inverse's
//   first pass (Ns = 1) reads the same points, so it starts from those registers; the inverse
//   middle passes; the last inverse pass writes the workspace row, twiddled by W_n^{−t2·k1}.
// The filter spectrum is stored by the same forward passes: natural k2 order within a row.
// Banks: reads in natural order (consecutive j per warp), the strided writes into the smfft
// swizzle (Layout): conflict-free. Barriers per row (n2 = 4096): 1 + 2 + 2 + 2 = 7 for the forward
// and inverse FFT (⌈log16 n2⌉ + 2 = 5 per FFT), the filter's forward 3, + 1 for the table. Twiddles:
// per butterfly two lookups of the PowTw table (W^k, W^{4k}) and ≤ 3 products per power
// (smfft::tw_powers); the inter-pass twiddle W_n^{k1·(j + q·cnt)} = W_n^{k1·j}·(W_n^{k1·cnt})^q the same way.
namespace lrow {
using smfft::Layout;
using smfft::written_by;
using smfft::ld;
using smfft::st;

// Butterfly index of this thread: threadIdx.x, or with k·n2/16 threads (the backward's row kernel:
// k = 2) threadIdx.x mod n2/16, the rest of the block running the same passes on other rows.
__device__ inline unsigned bj(unsigned n2) { return threadIdx.x & ((n2 >> 4) - 1u); }

// Points of butterfly j of a radix-16 pass: in(j) ^ in(q·n2/16).
__device__ inline void bfly_read(const float* z, unsigned n2, Layout in, unsigned j, float2 (&v)[16]) {
#pragma unroll
    for (int q = 0; q < 16; ++q) v[q] = ld(z, n2, in(j) ^ in(q * (n2 >> 4)));
}
// Results of butterfly j of a pass at Ns = 2^s: points (j − k)·16 + k + q·Ns (k = j mod Ns), layout out.
__device__ inline void bfly_write(float* z, unsigned n2, Layout out, unsigned j, unsigned s, const float2 (&v)[16]) {
    const unsigned k = j & ((1u << s) - 1u), b = out(((j - k) << 4) + k);
#pragma unroll
    for (int q = 0; q < 16; ++q) st(z, n2, b ^ out(q << s), v[q]);
}
// Twiddle powers of butterfly k of a pass at Ns = 2^s, 1 ≤ s ≤ E − 4: W_{16·Ns}^k = W_n^{k·2^(E−s−4)}
// and W_{4·Ns}^k, conjugated for the inverse.
template <bool INV> __device__ inline smfft::TwPowers pass_tw(const PowTw& tw, unsigned E, unsigned s, unsigned k) {
    return smfft::tw_powers<INV>(tw.get(k << (E - s - 4)), tw.get(k << (E - s - 2)));
}
// P0 of buffer z: butterfly j = bj(n2) from load(point), written for the next pass.
template <class Load> __device__ inline void p0(float* z, unsigned n2, Load&& load) {
    const unsigned j = bj(n2), cnt = n2 >> 4;
    float2 v[16];
#pragma unroll
    for (int q = 0; q < 16; ++q) v[q] = load(j + q * cnt);
    smfft::dft<16, false>(v);
    bfly_write(z, n2, written_by(4, 0), j, 0, v);
}
// The middle passes (Ns = 16, 256, …, n2/256) on NB buffers between the same barriers, after P0
// (or the inverse's first pass) and its barrier; returns the layout the last pass reads.
template <int NB, bool INV> __device__ inline Layout mids(float* const (&z)[NB], unsigned N2, unsigned E, const PowTw& tw) {
    const unsigned n2 = 1u << N2, j = bj(n2);
    Layout l = written_by(4, 0);
    for (unsigned s = 4; s + 4 < N2; s += 4) {
        const Layout o = written_by(4, s);
        const smfft::TwPowers tp = pass_tw<INV>(tw, E, s, j & ((1u << s) - 1u));
        float2 v[NB][16];
#pragma unroll
        for (int b = 0; b < NB; ++b) {
            bfly_read(z[b], n2, l, j, v[b]);
            smfft::twiddle_apply<16>(v[b], tp);
            smfft::dft<16, INV>(v[b]);
        }
        __syncthreads();
#pragma unroll
        for (int b = 0; b < NB; ++b) bfly_write(z[b], n2, o, j, s, v[b]);
        __syncthreads();
        l = o;
    }
    return l;
}
// The last pass (Ns = n2/16, butterfly j = bj(n2)) of buffer z in layout in, twiddles tp:
// afterwards v[q] is bin k2 = j + q·n2/16 (forward) or point t2 = j + q·n2/16 (inverse).
template <bool INV> __device__ inline void last(const float* z, unsigned n2, Layout in, const smfft::TwPowers& tp, float2 (&v)[16]) {
    bfly_read(z, n2, in, bj(n2), v);
    smfft::twiddle_apply<16>(v, tp);
    smfft::dft<16, INV>(v);
}
// Inter-pass twiddle of the last inverse pass' points t2 = j + q·cnt: v[q] ·= conj W_n^{k1·t2}.
__device__ inline void out_twiddle(float2 (&v)[16], const PowTw& tw, unsigned n2, unsigned k1) {
    const unsigned j = bj(n2), step = k1 * (n2 >> 4);  // < n1·n2/16: no wrap
    smfft::twiddle_apply<16>(v, smfft::tw_powers<true>(tw.get(step), tw.get(4 * step)));
    const float2 w = conjf2(tw.get(k1 * j));
#pragma unroll
    for (int q = 0; q < 16; ++q) v[q] = cmul(v[q], w);
}
// The launch shape ops::fftconv sets: blockDim = k·n2/16 (k = 1, the backward's row kernel 2), N2
// a multiple of 4, 8 ≤ N2 ≤ E − 3.
__device__ inline void check_shape(unsigned N2, unsigned E, unsigned k = 1) {
    if (N2 % 4 != 0 || N2 < 8 || N2 + 3 > E || blockDim.x != (k << (N2 - 4))) __trap();
}

// ---- Channel pairs: the mirror rows of a block -------------------------------------------------
// A slab holds Z = FFT(x_ch + i·x_ch+1) (two channels of one batch row, each with its own filter),
// so the spectral product needs the split X_ch[k] = (Z[k] + conj Z[n−k])/2, X_ch+1[k] =
// (Z[k] − conj Z[n−k])/2i, and Z[n−k] lies in another row: with k = k1 + n1·k2, n − k is
// (n1 − k1) + n1·(n2 − 1 − k2) for k1 ≠ 0 and n1·((n2 − k2) mod n2) for k1 = 0. So a row block
// takes two mirror rows: block m of a slab's n1/2 takes k1 = m and n1 − m (m ≥ 1), or k1 = 0 and
// n1/2 (m = 0: each row its own mirror). Row s of the block is workspace row r[s] = rev(k1[s]).
struct Mirror {
    unsigned m, k1[2], r[2];
};
__device__ inline Mirror mirror_rows(unsigned m, unsigned log2n1) {
    const unsigned n1 = 1u << log2n1;
    Mirror x;
    x.m = m;
    x.k1[0] = m;
    x.k1[1] = m == 0 ? n1 / 2 : n1 - m;
    x.r[0] = rev(x.k1[0], log2n1);
    x.r[1] = rev(x.k1[1], log2n1);
    return x;
}
// f(sa, ka, sb, kb) once for every mirror pair {(row sa, bin ka), (row sb, bin kb)} of the block,
// n − k of (sa, ka) being (sb, kb); thread j takes pairs whose first point is one of its bins
// k2 = j + q·n2/16 (consecutive j per warp: conflict-free natural-order reads of both). m ≥ 1: its
// bins of row 1 with their mirrors n2 − 1 − k2 in row 0 (every point of both rows once). m = 0:
// its bins of row 0 up to their mirror (n2 − k2) mod n2 (k2 = 0 and n2/2 are their own: k = 0
// and n/2), then those of row 1 below their mirror n2 − 1 − k2. Only q in [q0, q0 + NQ): threads
// that share j split the 16 (the backward's row kernel: q0 = 8·(threadIdx.x / (n2/16)), NQ = 8).
template <int NQ = 16, class F> __device__ inline void for_each_mirror(unsigned m, unsigned n2, F&& f, unsigned q0 = 0) {
    const unsigned j = bj(n2), cnt = n2 >> 4;
    if (m != 0) {
#pragma unroll 4
        for (int i = 0; i < NQ; ++i) {
            const unsigned k = j + (q0 + i) * cnt;
            f(1, k, 0, n2 - 1 - k);
        }
        return;
    }
#pragma unroll 4
    for (int i = 0; i < NQ; ++i) {
        const unsigned k = j + (q0 + i) * cnt, km = (n2 - k) & (n2 - 1);
        if (k <= km) f(0, k, 0, km);
    }
#pragma unroll 4
    for (int i = 0; i < NQ; ++i) {
        const unsigned k = j + (q0 + i) * cnt, km = n2 - 1 - k;
        if (k < km) f(1, k, 1, km);
    }
}
// Z at k and n − k → S = Z[k] + conj Z[n−k] = 2·X_ch[k] and D = Z[k] − conj Z[n−k] = 2i·X_ch+1[k].
__device__ inline void split(float2 zk, float2 zm, float2& S, float2& D) {
    S = make_float2(zk.x + zm.x, zk.y - zm.y);
    D = make_float2(zk.x - zm.x, zk.y + zm.y);
}
// Spectra P of channel ch and Q of ch + 1 at k (real signals) → the pair's Y[k] = P + iQ and
// Y[n−k] = conj P + i·conj Q.
__device__ inline void join(float2 P, float2 Q, float2& yk, float2& ym) {
    yk = make_float2(P.x - Q.y, P.y + Q.x);
    ym = make_float2(P.x + Q.y, Q.x - P.y);
}
// Natural-order bins of thread j from z, then (after a barrier: z is overwritten) the first
// inverse pass (Ns = 1) written for the middle passes: the inverse's P0 from a row in natural order.
template <int NB> __device__ inline void p0_inv_natural(float* const (&z)[NB], unsigned n2) {
    const unsigned j = bj(n2), cnt = n2 >> 4;
    float2 v[NB][16];
#pragma unroll
    for (int b = 0; b < NB; ++b)
#pragma unroll
        for (int q = 0; q < 16; ++q) v[b][q] = ld(z[b], n2, j + q * cnt);
    __syncthreads();
#pragma unroll
    for (int b = 0; b < NB; ++b) {
        smfft::dft<16, true>(v[b]);
        bfly_write(z[b], n2, written_by(4, 0), j, 0, v[b]);
    }
    __syncthreads();
}
// Thread j's bins (v[q] = bin j + q·n2/16) into z in natural order.
__device__ inline void st_natural(float* z, unsigned n2, const float2 (&v)[16]) {
    const unsigned j = bj(n2), cnt = n2 >> 4;
#pragma unroll
    for (int q = 0; q < 16; ++q) st(z, n2, j + q * cnt, v[q]);
}
// The forward FFT of one row into z in natural order (the layout of the split and the products):
// P0 from load(point), the middle passes, the last pass, a barrier (every thread's last pass has
// read z), the bins stored.
template <class Load> __device__ inline void forward_natural(float* z, unsigned N2, unsigned E, const PowTw& tw, Load&& load) {
    const unsigned n2 = 1u << N2;
    float* const zs[1] = {z};
    p0(z, n2, load);
    __syncthreads();
    const Layout in = mids<1, false>(zs, N2, E, tw);
    float2 v[16];
    last<false>(z, n2, in, pass_tw<false>(tw, E, N2 - 4, bj(n2)), v);
    __syncthreads();
    st_natural(z, n2, v);
}
// An inverse row FFT after its first pass (z written for the middle passes, barrier passed): the
// middle passes, the last pass, the twiddle conj W_n^{k1·t2}, and the points t2 = j + q·n2/16
// scaled into dst (a row of a workspace or of the grad_h slab).
__device__ inline void inverse_tail(float* z, unsigned N2, unsigned E, const PowTw& tw, unsigned k1, float2* __restrict__ dst, float scale) {
    const unsigned n2 = 1u << N2, j = bj(n2), cnt = n2 >> 4;
    float* const zs[1] = {z};
    const Layout in = mids<1, true>(zs, N2, E, tw);
    float2 x[16];
    last<true>(z, n2, in, pass_tw<true>(tw, E, N2 - 4, j), x);
    out_twiddle(x, tw, n2, k1);
#pragma unroll
    for (int q = 0; q < 16; ++q) dst[j + q * cnt] = make_float2(x[q].x * scale, x[q].y * scale);
}
// The inverse of the row held in z in natural order (as st_natural leaves it), into dst.
__device__ inline void inverse_row(float* z, unsigned N2, unsigned E, const PowTw& tw, unsigned k1, float2* __restrict__ dst, float scale) {
    float* const zs[1] = {z};
    p0_inv_natural<1>(zs, 1u << N2);
    inverse_tail(z, N2, E, tw, k1, dst, scale);
}
// The inverse of the row src (global, natural order; zeros where src is null) through z, into dst
// (may be src: every point is read before the first pass' barrier, and each thread writes the
// points it read).
__device__ inline void inverse_row_from(const float2* src, float* z, unsigned N2, unsigned E, const PowTw& tw, unsigned k1, float2* dst, float scale) {
    const unsigned n2 = 1u << N2, j = bj(n2), cnt = n2 >> 4;
    float2 v[16];
#pragma unroll
    for (int q = 0; q < 16; ++q) v[q] = src ? src[j + q * cnt] : make_float2(0.f, 0.f);
    smfft::dft<16, true>(v);
    bfly_write(z, n2, written_by(4, 0), j, 0, v);
    __syncthreads();
    inverse_tail(z, N2, E, tw, k1, dst, scale);
}
}  // namespace lrow

// Pass 2, one block per pair of mirror rows (lrow::Mirror; blockIdx.x = (cp·B + b)·n1/2 + m):
// n2-point forward FFTs of both rows; no spectrum (hf = 0, the filter): scale by 1/(4n) and store
// (natural k2 order: the spectrum layout, W = FFT(h_ch + i·h_ch+1)/4n); else both spectra to
// shared memory in natural order, the channel split and product at every mirror pair
// (Y = X_ch·H_ch + i·X_ch+1·H_ch+1 from Z and W at k and n − k: lrow::split, join), inverse FFTs,
// twiddle W_n^{−t2·k1}, store. Passes: see lrow. Barriers (n2 = 4096): the table 1, per forward
// FFT 3 (+ 1 before row 0's spectrum is stored over its buffer), the exchange 2 + 1, per inverse
// 4: 19 for the convolution's 4 FFTs, 7 for the filter's 2. Shared memory: 2 rows of n2 complex.
// KEEP (hyena_fftconv_long_rows_keep: the caller keeps a's transform for the backward, ws_out set):
// each row's forward FFT is also stored over its pass-1 row. SPECTRA (hyena_fftconv_long_rows_
// spectra, hf = 0: the backward's rows of a where the forward kept none): the row FFTs only,
// stored unscaled over the rows, as KEEP stores them. Kernels of their own, so that the plain
// one's SASS (the filter spectrum's rows and the convolution's without keeping) is unchanged.
template <bool KEEP, bool SPECTRA = false> __device__ inline void long_rows(const HyenaFftConvLongParams p) {
    HYENA_DYN_SHARED(float, z0);  // the block's two rows, n2 complex each as two float planes
    __shared__ float ptw_re[3 * HYENA_PTW_LEVEL], ptw_im[3 * HYENA_PTW_LEVEL];
    const unsigned log2n1 = (unsigned)p.log2n1, N2 = row_log2(p);  // compile time: see HYENA_LONG_ROW_LOG2
    const unsigned n1 = 1u << log2n1, n2 = 1u << N2, E = log2n1 + N2, j = threadIdx.x, cnt = n2 >> 4;
    lrow::check_shape(N2, E);
    if (KEEP ? !p.ws_out || !p.hf : p.ws_out != 0) __trap();  // ops::fftconv::long_fwd launches them so
    if (SPECTRA && p.hf) __trap();                 // ops::fftconv::long_bwd launches it so
    const PowTw tw = build_pow_tw(ptw_re, ptw_im, E);
    const uint64_t n = (uint64_t)n1 * n2;
    const unsigned half = n1 >> 1;
    const uint64_t rowid = blockIdx.x / half;  // cp·B + b: the slab
    const lrow::Mirror mr = lrow::mirror_rows((unsigned)(blockIdx.x % half), log2n1);
    float* const z[2] = {z0, z0 + 2 * n2};
    float2* __restrict__ slab = reinterpret_cast<float2*>(p.ws) + rowid * n;
    float2 v[16];
#pragma unroll 1
    for (int s = 0; s < 2; ++s) {
        float2* __restrict__ row = slab + (uint64_t)(s ? mr.r[1] : mr.r[0]) * n2;
        float* const zs[1] = {s ? z[1] : z[0]};
        lrow::p0(zs[0], n2, [&](unsigned pt) { return row[pt]; });
        __syncthreads();
        const lrow::Layout in = lrow::mids<1, false>(zs, N2, E, tw);
        lrow::last<false>(zs[0], n2, in, lrow::pass_tw<false>(tw, E, N2 - 4, j), v);
        if (!p.hf) {
            const float scale = 0.25f / (float)n;  // a power of two: exact
#pragma unroll
            for (int q = 0; q < 16; ++q) row[j + q * cnt] = SPECTRA ? v[q] : make_float2(v[q].x * scale, v[q].y * scale);
            continue;
        }
        // KEEP (ws_out takes this pass' output): the row spectrum (natural k2 order, unscaled)
        // over the row's pass-1 points, which every thread read in P0, before the middle passes'
        // barriers (long_rows_bwd_kept reads it).
        if constexpr (KEEP) {
#pragma unroll
            for (int q = 0; q < 16; ++q) row[j + q * cnt] = v[q];
        }
        __syncthreads();  // every thread's last pass has read z[s]
        lrow::st_natural(zs[0], n2, v);
    }
    if (!p.hf) return;
    __syncthreads();
    // W = FFT(h_ch + i·h_ch+1)/4n: S_w = 2·H_ch/4n, D_w = 2i·H_ch+1/4n, so S_z·S_w = X_ch·H_ch/n and
    // −D_z·D_w = X_ch+1·H_ch+1/n (the 1/n of the inverse folded in).
    const float2* __restrict__ hf = reinterpret_cast<const float2*>(p.hf) + (rowid / p.b) * n;
    const float2* const h[2] = {hf + (uint64_t)mr.r[0] * n2, hf + (uint64_t)mr.r[1] * n2};
    lrow::for_each_mirror(mr.m, n2, [&](int sa, unsigned ka, int sb, unsigned kb) {
        float2 sz, dz, sw, dw, yk, ym;
        lrow::split(lrow::ld(z[sa], n2, ka), lrow::ld(z[sb], n2, kb), sz, dz);
        lrow::split(h[sa][ka], h[sb][kb], sw, dw);
        const float2 q = cmul(dz, dw);
        lrow::join(cmul(sz, sw), make_float2(-q.x, -q.y), yk, ym);
        lrow::st(z[sa], n2, ka, yk);
        lrow::st(z[sb], n2, kb, ym);
    });
    __syncthreads();
#pragma unroll 1
    for (int s = 0; s < 2; ++s) {
        float* const zs[1] = {s ? z[1] : z[0]};
        lrow::p0_inv_natural<1>(zs, n2);
        const lrow::Layout in = lrow::mids<1, true>(zs, N2, E, tw);
        lrow::last<true>(zs[0], n2, in, lrow::pass_tw<true>(tw, E, N2 - 4, j), v);
        lrow::out_twiddle(v, tw, n2, s ? mr.k1[1] : mr.k1[0]);
        // In place, or (KEEP: ws holds the rows' spectra, the backward's A) to ws_out.
        float2* __restrict__ row = (KEEP ? reinterpret_cast<float2*>(p.ws_out) + rowid * n : slab) + (uint64_t)(s ? mr.r[1] : mr.r[0]) * n2;
#pragma unroll
        for (int q = 0; q < 16; ++q) row[j + q * cnt] = v[q];
    }
}

// Backward pass 2, one block per (channel pair cp, mirror rows m), blockIdx.x = cp·n1/2 + m. For
// every batch row b in order: row FFTs of Za = FFT(a_ch + i·a_ch+1) (ws, pass 1 on a = pre ⊙ v)
// and Zg (ws_g, pass 1 on g = grad_y ⊙ post) of both mirror rows, then at every mirror pair the
// channel split (lrow::split) and
//   acc += G·conj(A) per channel (the spectrum of Σ_b corr(g_b, a_b), packed as the two channels'
//          real signals are: real part ch, imaginary ch + 1);
//   Za ← A·H per channel (conv, for grad_post), Zg ← G·conj(H) (correlation, for grad_a);
// inverted and twiddled in place. Then acc/4n inverted and twiddled into the grad_h slab [⌈C/2⌉, n].
// acc sits in shared memory (natural order), each mirror pair read and written by one thread.
// Threads: 2·n2/16 (512 at n2 = 4096), two halves h = threadIdx.x / (n2/16) with one radix-16
// butterfly each per pass: per mirror row s, half 0 transforms Za[s] and half 1 Zg[s] between the
// same barriers; the mirror pairs split by q; the two rows of acc run side by side. One butterfly per thread across a barrier keeps a thread
// under 128 registers: 16 warps per SM, where the block of n2/16 threads with Za and Zg of a row
// in each thread's registers (254 registers) had 8, and the shared memory (6 rows of n2 complex,
// 192 KiB) admits one block per SM either way. Measured with 8 warps on an H200 (2026-12-04, B = 1,
// L = 64K, D = 768): 2.6 ms, 2.0 warps per scheduler, 18 % issue-active (docs/GPU_MODEL.md).
// Barriers per batch row: 4 per row forward (×2 rows), 2 for the product, 4 per inverse round (2
// rounds); 4 for acc (19 per block at B = 1). Only where grad_post is recomputed (no `inner`):
// otherwise long_rows_bwd_kept, on a's row spectra (the forward's, or hyena_fftconv_long_rows_
// spectra's), with 2 rows of shared memory instead of 6.
__device__ inline void long_rows_bwd(const HyenaFftConvLongBwdParams pb) {
    const HyenaFftConvLongParams& p = pb.fwd;
    HYENA_DYN_SHARED(float, zb);  // za[2], zg[2], acc[2]: n2 complex each, as two float planes
    __shared__ float ptw_re[3 * HYENA_PTW_LEVEL], ptw_im[3 * HYENA_PTW_LEVEL];
    const unsigned log2n1 = (unsigned)p.log2n1, N2 = row_log2(p);  // compile time: see HYENA_LONG_ROW_LOG2
    const unsigned n1 = 1u << log2n1, n2 = 1u << N2, E = log2n1 + N2;
    lrow::check_shape(N2, E, 2);
    const unsigned j = lrow::bj(n2), hh = threadIdx.x >> (N2 - 4);  // butterfly, half (0 or 1)
    float* const za[2] = {zb, zb + 2 * n2};
    float* const zg[2] = {zb + 4 * n2, zb + 6 * n2};
    float* const acc[2] = {zb + 8 * n2, zb + 10 * n2};
    const PowTw tw = build_pow_tw(ptw_re, ptw_im, E);
    const uint64_t n = (uint64_t)n1 * n2;
    const unsigned half = n1 >> 1;
    const uint64_t cp = blockIdx.x / half;
    const lrow::Mirror mr = lrow::mirror_rows((unsigned)(blockIdx.x % half), log2n1);
    const float2* __restrict__ hf = reinterpret_cast<const float2*>(p.hf) + cp * n;
    const float2* const h[2] = {hf + (uint64_t)mr.r[0] * n2, hf + (uint64_t)mr.r[1] * n2};
    // A·H too, for pass 3's grad_post (ops::fftconv picks this kernel only then).
    if (!pb.grad_post) __trap();
    // x0 or x1 by a runtime index, as a select: an index into a local array would put the array
    // on the stack.
    auto pick = [](unsigned i, auto x0, auto x1) { return i ? x1 : x0; };
    // The inverse of row s of buffer z (natural order, one half of the block), twiddled, to dst.
    auto inverse = [&](float* z, unsigned s, float2* __restrict__ dst, float scale) {
        lrow::inverse_row(z, N2, E, tw, pick(s, mr.k1[0], mr.k1[1]), dst + (uint64_t)pick(s, mr.r[0], mr.r[1]) * n2, scale);
    };
    for (uint64_t b = 0; b < p.b; ++b) {
        float2* __restrict__ sa = reinterpret_cast<float2*>(p.ws) + (cp * p.b + b) * n;
        float2* __restrict__ sg = reinterpret_cast<float2*>(pb.ws_g) + (cp * p.b + b) * n;
        float2* __restrict__ src = hh ? sg : sa;
#pragma unroll 1
        for (int s = 0; s < 2; ++s) {
            float* const zs[1] = {hh ? pick(s, zg[0], zg[1]) : pick(s, za[0], za[1])};
            const float2* r = src + (uint64_t)pick(s, mr.r[0], mr.r[1]) * n2;
            // lrow::forward_natural's steps spelled out: called here, ptxas gave this kernel 64
            // registers and 16 B of spills (2026-12-05).
            lrow::p0(zs[0], n2, [&](unsigned pt) { return r[pt]; });
            __syncthreads();
            const lrow::Layout in = lrow::mids<1, false>(zs, N2, E, tw);
            float2 v[16];
            lrow::last<false>(zs[0], n2, in, lrow::pass_tw<false>(tw, E, N2 - 4, j), v);
            __syncthreads();  // every thread's last pass has read the row
            lrow::st_natural(zs[0], n2, v);
        }
        __syncthreads();
        const bool first = b == 0;
        lrow::for_each_mirror<8>(mr.m, n2, [&](int s0, unsigned k0, int s1, unsigned k1) {
            float2 sa_, da, sg_, dg, sw, dw, yk, ym;
            lrow::split(lrow::ld(za[s0], n2, k0), lrow::ld(za[s1], n2, k1), sa_, da);
            lrow::split(lrow::ld(zg[s0], n2, k0), lrow::ld(zg[s1], n2, k1), sg_, dg);
            lrow::split(h[s0][k0], h[s1][k1], sw, dw);
            // S_g·conj S_a = 4·G_ch·conj A_ch, D_g·conj D_a = 4·G_ch+1·conj A_ch+1 (scaled at the end).
            lrow::join(cmul(sg_, conjf2(sa_)), cmul(dg, conjf2(da)), yk, ym);
            if (!first) {
                yk = cadd(yk, lrow::ld(acc[s0], n2, k0));
                ym = cadd(ym, lrow::ld(acc[s1], n2, k1));
            }
            lrow::st(acc[s0], n2, k0, yk);
            lrow::st(acc[s1], n2, k1, ym);
            // A·H/n per channel (see long_rows) and G·conj(H)/n: S_g·conj S_w, D_g·conj D_w.
            const float2 q = cmul(da, dw);
            lrow::join(cmul(sa_, sw), make_float2(-q.x, -q.y), yk, ym);
            lrow::st(za[s0], n2, k0, yk);
            lrow::st(za[s1], n2, k1, ym);
            lrow::join(cmul(sg_, conjf2(sw)), cmul(dg, conjf2(dw)), yk, ym);
            lrow::st(zg[s0], n2, k0, yk);
            lrow::st(zg[s1], n2, k1, ym);
        }, 8 * hh);
        __syncthreads();
#pragma unroll 1
        for (int s = 0; s < 2; ++s) inverse(hh ? pick(s, zg[0], zg[1]) : pick(s, za[0], za[1]), s, src, 1.0f);
    }
    // acc = 4·Σ_b G·conj(A) (packed): inverted into the slab, scaled by 1/(4n) (exact). B = 0
    // (the loop above never ran): an empty sum.
    if (p.b == 0) {
        float2 zero[16];
#pragma unroll
        for (int q = 0; q < 16; ++q) zero[q] = make_float2(0.f, 0.f);
        lrow::st_natural(pick(hh, acc[0], acc[1]), n2, zero);
    }
    inverse(pick(hh, acc[0], acc[1]), hh, reinterpret_cast<float2*>(pb.slab) + cp * n, 0.25f / (float)n);
}

// Backward pass 2 on a's row spectra (p.ws: A = the n2-point row FFTs of pass 1's rows, natural
// k2 order, stored over them by the forward's hyena_fftconv_long_rows_keep where it kept them,
// else by hyena_fftconv_long_rows_spectra in the backward; read only here), the row pass without
// A·H (grad_post from `inner`, or no post gate): one block
// of n2/16 threads per (channel pair cp, mirror rows), blockIdx.x = cp·n1/2 + m. For every batch
// row b in order: the forward FFTs of Zg's two mirror rows, one after the other, into shared
// memory (natural order); at every mirror pair the channel splits of A (global), G (shared) and H
// (global) and
//   acc += G·conj(A) per channel, in the block's two rows of the grad_h slab (global: each bin
//          read and written by the one thread that takes its mirror pair, the same thread for
//          every b, in program order; b = 0 stores), Zg ← G·conj(H);
// the two inverses of Zg, twiddled, to ws_g. Then each slab row's inverse, its first pass straight
// from the row, scaled by 1/(4n) into it. The same operations in the same order as
// long_rows_bwd's G side on Za's transform. Against it: no row FFT of Za (4 row FFTs
// per batch row instead of 6, + grad_h's 2 per block), and 2 rows of shared memory instead of 6
// (64 KiB at n2 = 4096), which with n2/16 threads and at most 85 registers admits three blocks
// (24 warps) per SM where it has one of 16 warps. Barriers (n2 = 4096): the table 1; per batch row
// 4 per forward FFT (P0, 2 per middle pass, before the natural store) + 1 before the product + 4
// per inverse (P0's two, the middle pass' two); 4 per slab row: 25 at B = 1.
__device__ inline void long_rows_bwd_kept(const HyenaFftConvLongBwdParams pb) {
    const HyenaFftConvLongParams& p = pb.fwd;
    HYENA_DYN_SHARED(float, z0);  // Zg of the block's two rows, n2 complex each as two float planes
    __shared__ float ptw_re[3 * HYENA_PTW_LEVEL], ptw_im[3 * HYENA_PTW_LEVEL];
    const unsigned log2n1 = (unsigned)p.log2n1, N2 = row_log2(p);  // compile time: see HYENA_LONG_ROW_LOG2
    const unsigned n1 = 1u << log2n1, n2 = 1u << N2, E = log2n1 + N2;
    lrow::check_shape(N2, E);
    if (pb.grad_post && !p.inner) __trap();  // grad_post needs A·H: ops::fftconv picks long_rows_bwd
    const PowTw tw = build_pow_tw(ptw_re, ptw_im, E);
    const uint64_t n = (uint64_t)n1 * n2;
    const unsigned half = n1 >> 1;
    const uint64_t cp = blockIdx.x / half;
    const lrow::Mirror mr = lrow::mirror_rows((unsigned)(blockIdx.x % half), log2n1);
    float* const z[2] = {z0, z0 + 2 * n2};
    const float2* __restrict__ hf = reinterpret_cast<const float2*>(p.hf) + cp * n;
    const float2* const h[2] = {hf + (uint64_t)mr.r[0] * n2, hf + (uint64_t)mr.r[1] * n2};
    float2* const slab = reinterpret_cast<float2*>(pb.slab) + cp * n;
    float2* const acc[2] = {slab + (uint64_t)mr.r[0] * n2, slab + (uint64_t)mr.r[1] * n2};
    for (uint64_t b = 0; b < p.b; ++b) {
        const float2* __restrict__ sa = reinterpret_cast<const float2*>(p.ws) + (cp * p.b + b) * n;
        float2* __restrict__ sg = reinterpret_cast<float2*>(pb.ws_g) + (cp * p.b + b) * n;
        const float2* const a[2] = {sa + (uint64_t)mr.r[0] * n2, sa + (uint64_t)mr.r[1] * n2};
        // Row s's P0 overwrites z[s], which the previous batch row's inverses read last before
        // row 1's inverse passed its first barrier: no barrier needed here.
#pragma unroll 1
        for (int s = 0; s < 2; ++s) {
            const float2* __restrict__ r = sg + (uint64_t)(s ? mr.r[1] : mr.r[0]) * n2;
            lrow::forward_natural(s ? z[1] : z[0], N2, E, tw, [&](unsigned pt) { return r[pt]; });
        }
        __syncthreads();
        const bool first = b == 0;
        lrow::for_each_mirror(mr.m, n2, [&](int s0, unsigned k0, int s1, unsigned k1) {
            float2 sa_, da, sg_, dg, sw, dw, yk, ym;
            lrow::split(a[s0][k0], a[s1][k1], sa_, da);
            lrow::split(lrow::ld(z[s0], n2, k0), lrow::ld(z[s1], n2, k1), sg_, dg);
            lrow::split(h[s0][k0], h[s1][k1], sw, dw);
            // S_g·conj S_a = 4·G_ch·conj A_ch, D_g·conj D_a = 4·G_ch+1·conj A_ch+1 (scaled at the end).
            lrow::join(cmul(sg_, conjf2(sa_)), cmul(dg, conjf2(da)), yk, ym);
            if (!first) {
                yk = cadd(yk, acc[s0][k0]);
                ym = cadd(ym, acc[s1][k1]);
            }
            acc[s0][k0] = yk;
            acc[s1][k1] = ym;
            // G·conj(H)/n: S_g·conj S_w, D_g·conj D_w (see long_rows_bwd).
            lrow::join(cmul(sg_, conjf2(sw)), cmul(dg, conjf2(dw)), yk, ym);
            lrow::st(z[s0], n2, k0, yk);
            lrow::st(z[s1], n2, k1, ym);
        });
        __syncthreads();
#pragma unroll 1
        for (int s = 0; s < 2; ++s) {
            lrow::inverse_row(s ? z[1] : z[0], N2, E, tw, s ? mr.k1[1] : mr.k1[0], sg + (uint64_t)(s ? mr.r[1] : mr.r[0]) * n2, 1.0f);
        }
    }
    // acc = 4·Σ_b G·conj(A) (packed), inverted in place, scaled by 1/(4n) (exact). The previous
    // barriers order every thread's acc stores before these loads. B = 0: an empty sum.
#pragma unroll 1
    for (int s = 0; s < 2; ++s) {
        float2* const row = s ? acc[1] : acc[0];
        lrow::inverse_row_from(p.b ? row : nullptr, s ? z[1] : z[0], N2, E, tw, s ? mr.k1[1] : mr.k1[0], row, 0.25f / (float)n);
    }
}

// Pass 3's output of point t < L of the pair's rows from its convolution value conv (real part:
// channel ch, imaginary: ch + 1): y = post ⊙ (conv + D·a), a = pre ⊙ v. With grad_d (the
// backward's grad_h pass, p.b = 1, p.ws = the slab): y = conv itself (grad_h [C, L] of both
// channels), and its lag 0 to grad_d.
template <typename T> struct PassOut {
    const T* v;
    const T* pre;
    const T* post;
    T* y;
    T* inner;
    T* grad_d;
    float dd0, dd1;
    uint64_t off0, off1, ch;
    bool has1;
    __device__ PassOut(const HyenaFftConvLongParams& p, const LongTile& tl, T* gd)
        : v(reinterpret_cast<const T*>(p.v)),
          pre(p.pre ? reinterpret_cast<const T*>(p.pre) : nullptr),
          post(p.post ? reinterpret_cast<const T*>(p.post) : nullptr),
          y(reinterpret_cast<T*>(p.y)),
          inner(p.inner ? reinterpret_cast<T*>(p.inner) : nullptr),
          grad_d(gd),
          dd0(p.d ? to_f32<T>(reinterpret_cast<const T*>(p.d)[tl.ch]) : 0.f),
          dd1(p.d && tl.has1 ? to_f32<T>(reinterpret_cast<const T*>(p.d)[tl.ch + 1]) : 0.f),
          off0(tl.off0),
          off1(tl.off1),
          ch(tl.ch),
          has1(tl.has1) {}
    __device__ void operator()(uint64_t t, float2 conv) const {
        if (grad_d) {
            // grad_h [C, L]: the batch-summed correlations of ch (real part) and ch + 1
            // (imaginary); lag 0 is grad_D.
            y[off0 + t] = from_f32<T>(conv.x);
            if (t == 0) grad_d[ch] = from_f32<T>(conv.x);
            if (has1) {
                y[off1 + t] = from_f32<T>(conv.y);
                if (t == 0) grad_d[ch + 1] = from_f32<T>(conv.y);
            }
            return;
        }
        // Every load first, as selects (predicated loads in one basic block, not a branch per
        // gate): up to six 2-byte loads in flight per thread instead of one to three, which the
        // DRAM-latency term of the model (and a GPU) needs at n1 ≥ 64, where the tile loop keeps
        // few warps resident. A missing gate reads as 1 (x·1 = x exactly: outputs unchanged).
        const float v0 = to_f32<T>(v[off0 + t]);
        const float v1 = has1 ? to_f32<T>(v[off1 + t]) : 0.f;
        const float q0 = pre ? to_f32<T>(pre[off0 + t]) : 1.f;
        const float q1 = pre && has1 ? to_f32<T>(pre[off1 + t]) : 1.f;
        const float o0 = post ? to_f32<T>(post[off0 + t]) : 1.f;
        const float o1 = post && has1 ? to_f32<T>(post[off1 + t]) : 1.f;
        const float z0 = conv.x + dd0 * (v0 * q0), z1 = conv.y + dd1 * (v1 * q1);
        if (inner) {
            inner[off0 + t] = from_f32<T>(z0);
            if (has1) inner[off1 + t] = from_f32<T>(z1);
        }
        y[off0 + t] = from_f32<T>(z0 * o0);
        if (has1) y[off1 + t] = from_f32<T>(z1 * o1);
    }
};

// The backward's pass 3 on Zg (part of hyena_fftconv_long_grad_in_*): grad_a = corr(g, h) + D·g, the
// convolution value conv pass 2 left in ws_g, with g = grad_y ⊙ post; then grad_v = grad_a ⊙ pre
// and grad_pre = grad_a ⊙ v (if asked) from the one column transform. Two pass-3 launches (gates
// pre and v) each read Zg (8 bytes per channel and point, the largest stream) and grad_y, post
// again for the same grad_a; per channel and point this reads 8 + 4·sizeof(T) bytes and writes
// 2·sizeof(T) where they read 2·(8 + 3·sizeof(T)) and wrote 2·sizeof(T). The same expressions
// as PassOut's with (v, pre, post) = (grad_y, post, gate): the same bits.
template <typename T> struct PassGradA {
    const T* gy;
    const T* post;
    const T* v;
    const T* pre;
    const T* inner;
    T* gv;
    T* gp;
    T* gpo;
    float dd0, dd1;
    uint64_t off0, off1;
    bool has1;
    __device__ PassGradA(const HyenaFftConvLongBwdParams& pb, const LongTile& tl)
        : gy(reinterpret_cast<const T*>(pb.grad_y)),
          post(pb.fwd.post ? reinterpret_cast<const T*>(pb.fwd.post) : nullptr),
          v(reinterpret_cast<const T*>(pb.fwd.v)),
          pre(pb.fwd.pre ? reinterpret_cast<const T*>(pb.fwd.pre) : nullptr),
          inner(pb.fwd.inner ? reinterpret_cast<const T*>(pb.fwd.inner) : nullptr),
          gv(reinterpret_cast<T*>(pb.grad_v)),
          gp(pb.grad_pre ? reinterpret_cast<T*>(pb.grad_pre) : nullptr),
          gpo(pb.fwd.inner && pb.grad_post ? reinterpret_cast<T*>(pb.grad_post) : nullptr),
          dd0(pb.fwd.d ? to_f32<T>(reinterpret_cast<const T*>(pb.fwd.d)[tl.ch]) : 0.f),
          dd1(pb.fwd.d && tl.has1 ? to_f32<T>(reinterpret_cast<const T*>(pb.fwd.d)[tl.ch + 1]) : 0.f),
          off0(tl.off0),
          off1(tl.off1),
          has1(tl.has1) {}
    __device__ void operator()(uint64_t t, float2 conv) const {
        // Every load first, as selects (see PassOut): eight 2-byte loads in flight per thread.
        const float g0 = to_f32<T>(gy[off0 + t]);
        const float g1 = has1 ? to_f32<T>(gy[off1 + t]) : 0.f;
        const float o0 = post ? to_f32<T>(post[off0 + t]) : 1.f;
        const float o1 = post && has1 ? to_f32<T>(post[off1 + t]) : 1.f;
        const float v0 = to_f32<T>(v[off0 + t]);
        const float v1 = has1 ? to_f32<T>(v[off1 + t]) : 0.f;
        const float q0 = pre ? to_f32<T>(pre[off0 + t]) : 1.f;
        const float q1 = pre && has1 ? to_f32<T>(pre[off1 + t]) : 1.f;
        const float z0 = gpo ? to_f32<T>(inner[off0 + t]) : 0.f;
        const float z1 = gpo && has1 ? to_f32<T>(inner[off1 + t]) : 0.f;
        const float a0 = conv.x + dd0 * (g0 * o0);
        const float a1 = conv.y + dd1 * (g1 * o1);
        gv[off0 + t] = from_f32<T>(a0 * q0);
        if (has1) gv[off1 + t] = from_f32<T>(a1 * q1);
        if (gp) {
            gp[off0 + t] = from_f32<T>(a0 * v0);
            if (has1) gp[off1 + t] = from_f32<T>(a1 * v1);
        }
        if (gpo) {
            // grad_post = grad_y ⊙ inner (the forward's conv + D·a; PassOut's product in that order).
            gpo[off0 + t] = from_f32<T>(z0 * g0);
            if (has1) gpo[off1 + t] = from_f32<T>(z1 * g1);
        }
    }
};

// Pass 3 at n1 = N1 ≤ 32: thread j's column t2 = col0 + j in registers (see idit_reg_low; the
// tile is blockDim columns); emit(t, conv) for the kept points t = r·n2 + t2 < L.
template <int N1, class Emit>
__device__ inline void out_reg(const HyenaFftConvLongParams& p, const LongTile& tl, const float2* ws, const Emit& emit) {
    const unsigned n2 = 1u << row_log2(p), tc = 1u << p.log2tile;
    if (tc != blockDim.x) __trap();  // one column per thread (ops::fftconv's LongPlan)
    const unsigned t2 = tl.col0 + threadIdx.x;
    float2 x[N1];
#pragma unroll
    for (int r = 0; r < N1; ++r) x[r] = ws[(uint64_t)r * n2 + t2];
    idit_reg_low<N1>(x);
#pragma unroll
    for (int r = 0; r < N1 / 2; ++r) {
        const uint64_t t = (uint64_t)r * n2 + t2;
        if (t < p.l) emit(t, x[r]);
    }
}

// Pass 3 at n1 ≤ 2^HYENA_LONG_REG_LOG2N1 (hyena_fftconv_long_out_reg_*, long_grad_h_reg_*,
// long_grad_in_reg_*): the columns in registers (out_reg), one per thread; no shared tile and no
// twiddle table (pass 2 applied the inverse four-step twiddle). The outputs are those of
// make(tile) (PassOut, PassGradA). Other n1: trap.
template <class Make> __device__ inline void out_pass_reg(const HyenaFftConvLongParams& p, const Make& make) {
    const uint64_t n = (uint64_t)1 << (p.log2n1 + row_log2(p));
    const LongTile tl = long_tile(p);
    const float2* __restrict__ ws = reinterpret_cast<const float2*>(p.ws) + tl.rowid * n;
    const auto emit = make(tl);
    with_n1_reg((unsigned)p.log2n1, [&](auto r1) { out_reg<decltype(r1)::value>(p, tl, ws, emit); });
}
template <typename T> __device__ inline void long_out_reg(const HyenaFftConvLongParams p, T* grad_d = nullptr) {
    out_pass_reg(p, [&](const LongTile& tl) { return PassOut<T>(p, tl, grad_d); });
}

// Pass 3: inverse n1-point FFTs down the tile's columns (bit-reversed rows in, t1 natural out);
// keep t = n2·t1 + t2 < L; the outputs of make(tile), the twiddle table tw built by the caller
// (HYENA_OUT_PASS_TW). long_out: PassOut, y = post ⊙ (conv + D·a) for channels ch (real part) and
// ch + 1 (imaginary); with grad_d (the backward's grad_h pass, p.b = 1, p.ws = the slab): y =
// grad_h of both channels, and their lag 0 to grad_d.
template <class Make> __device__ inline void out_pass(const HyenaFftConvLongParams& p, const PowTw& tw, const Make& make) {
    HYENA_DYN_SHARED(float, s);  // the tile, n1·tc complex as two float planes
    const unsigned log2n1 = (unsigned)p.log2n1, log2tc = (unsigned)p.log2tile;
    const unsigned n1 = 1u << log2n1, n2 = 1u << p.log2n2, tc = 1u << log2tc, N = n1 * tc;
    const unsigned E = log2n1 + (unsigned)p.log2n2;
    const uint64_t n = (uint64_t)n1 * n2, L = p.l;
    const LongTile tl = long_tile(p);
    const float2* __restrict__ ws = reinterpret_cast<const float2*>(p.ws) + tl.rowid * n;
    // Four loads in flight per thread before the stores (one per trip kept a warp at one 8-byte
    // request in flight: latency-bound at the few warps a 64 KiB tile leaves resident).
    for (unsigned i0 = threadIdx.x; i0 < N; i0 += 4 * blockDim.x) {
        float2 x[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const unsigned i = i0 + u * blockDim.x;
            if (i < N) x[u] = ws[(uint64_t)(i >> log2tc) * n2 + tl.col0 + (i & (tc - 1))];
        }
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const unsigned i = i0 + u * blockDim.x;
            if (i < N) smfft::st(s, N, i, x[u]);
        }
    }
    __syncthreads();
    dit_cols(s, N, log2n1, log2tc, tw, E);
    const auto out = make(tl);
    for (unsigned i = threadIdx.x; i < (n1 / 2) * tc; i += blockDim.x) {
        const unsigned r = i >> log2tc, c = i & (tc - 1);
        const uint64_t t = (uint64_t)r * n2 + tl.col0 + c;
        if (t < L) out(t, smfft::ld(s, N, i));
    }
}
// The shared-tile pass 3's twiddle table (built once per block, whatever the passes after it).
#define HYENA_OUT_PASS_TW(tw, p)                                                  \
    __shared__ float ptw_re[3 * HYENA_PTW_LEVEL], ptw_im[3 * HYENA_PTW_LEVEL];   \
    const PowTw tw = build_pow_tw(ptw_re, ptw_im, (unsigned)((p).log2n1 + (p).log2n2))
template <typename T> __device__ inline void long_out(const HyenaFftConvLongParams p, T* grad_d = nullptr) {
    HYENA_OUT_PASS_TW(tw, p);
    out_pass(p, tw, [&](const LongTile& tl) { return PassOut<T>(p, tl, grad_d); });
}

// Backward: grad_h and grad_D from the slab rows_bwd wrote (pass 3 with the slab as one batch row;
// REG: the columns in registers, long_out_reg).
template <typename T, bool REG> __device__ inline void long_grad_h(const HyenaFftConvLongBwdParams pb) {
    HyenaFftConvLongParams p = pb.fwd;
    p.v = p.pre = p.post = p.d = p.inner = 0;
    p.b = 1;
    p.ws = pb.slab;
    p.y = pb.grad_h;
    if (REG) {
        long_out_reg<T>(p, reinterpret_cast<T*>(pb.grad_d));
    } else {
        long_out<T>(p, reinterpret_cast<T*>(pb.grad_d));
    }
}

// Backward pass 3 of the inputs (hyena_fftconv_long_grad_in_*): grad_post = grad_y ⊙ (h∗a + D·a)
// from Za (PassOut with gate grad_y; skipped when grad_post = 0), then grad_v and grad_pre from Zg
// (PassGradA), in one launch. Each thread's second transform covers the points of its first, so
// it re-reads grad_y, v and pre moments later (L1/L2), not from DRAM: per channel and point the
// launch moves 16 + 4·sizeof(T) bytes + the outputs, where separate passes for grad_post and
// (grad_v, grad_pre) moved 16 + 7·sizeof(T). REG as long_grad_h.
template <typename T, bool REG> __device__ inline void long_grad_in(const HyenaFftConvLongBwdParams pb) {
    HyenaFftConvLongParams pa = pb.fwd;  // Za: v, pre, D and ws as the forward's
    pa.post = pb.grad_y;
    pa.y = pb.grad_post;
    pa.inner = 0;
    // grad_post from Za only without the forward's inner value (else PassGradA: grad_y ⊙ inner).
    const bool za_pass = pb.grad_post && !pb.fwd.inner;
    HyenaFftConvLongParams pg = pb.fwd;
    pg.ws = pb.ws_g;
    const auto make_a = [&](const LongTile& tl) { return PassOut<T>(pa, tl, nullptr); };
    const auto make_g = [&](const LongTile& tl) { return PassGradA<T>(pb, tl); };
    if constexpr (REG) {
        if (za_pass) out_pass_reg(pa, make_a);
        out_pass_reg(pg, make_g);
    } else {
        HYENA_OUT_PASS_TW(tw, pb.fwd);  // one table for both transforms
        if (za_pass) {
            out_pass(pa, tw, make_a);
            __syncthreads();  // the shared tile's last reads before the second transform's stores
        }
        out_pass(pg, tw, make_g);
    }
}

}  // namespace hyena_fftconv

// log2 m of the kernels built for one row length at compile time (2-byte storage; ops::fftconv::
// fixed_length_infix): the `*_m13` kernels at 4K < L ≤ 8K (the paper's 8K rows: the two-block
// kernels, the filter spectrum, the reduce), the `*_m12` ones at 2K < L ≤ 4K (the 128-register
// forward and backward, the filter spectrum, the reduce). make_plan folds to constants, so do the
// layouts, the pass loops' trip counts, the twiddle-table offsets and the second plane's offset m
// (an immediate in the shared-memory accesses). The generic kernels serve the other n.
#define HYENA_FFTCONV_MC_TWO 13
#define HYENA_FFTCONV_MC_4K 12
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_FILTER_BLOCK) hyena_fftconv_filter_m12_bf16(const HyenaFftFilterParams p) { hyena_fftconv::filter<__nv_bfloat16, HYENA_FFTCONV_MC_4K>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_FILTER_BLOCK) hyena_fftconv_filter_m12_f16(const HyenaFftFilterParams p) { hyena_fftconv::filter<__half, HYENA_FFTCONV_MC_4K>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_fwd_m12_bf16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__nv_bfloat16, false, false, false, HYENA_FFTCONV_MC_4K>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_fwd_m12_f16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__half, false, false, false, HYENA_FFTCONV_MC_4K>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_bwd_m12_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<__nv_bfloat16, true, HYENA_FFTCONV_MC_4K>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_bwd_m12_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<__half, true, HYENA_FFTCONV_MC_4K>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_reduce_m12_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_reduce<__nv_bfloat16, HYENA_FFTCONV_MC_4K>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_reduce_m12_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_reduce<__half, HYENA_FFTCONV_MC_4K>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_FILTER_BLOCK) hyena_fftconv_filter_f32(const HyenaFftFilterParams p) { hyena_fftconv::filter<float>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_FILTER_BLOCK) hyena_fftconv_filter_bf16(const HyenaFftFilterParams p) { hyena_fftconv::filter<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_FILTER_BLOCK) hyena_fftconv_filter_f16(const HyenaFftFilterParams p) { hyena_fftconv::filter<__half>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_fwd_f32(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<float, false>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_fwd_inner_f32(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<float, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_fwd_bf16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__nv_bfloat16, false>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_fwd_inner_bf16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__nv_bfloat16, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_fwd_f16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__half, false>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_fwd_inner_f16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__half, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_bf16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__nv_bfloat16, false, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_f16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__half, false, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_bwd_f32(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<float, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_bwd_g_f32(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<float, false>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_bwd_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<__nv_bfloat16, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_bwd_g_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<__nv_bfloat16, false>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_bwd_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<__half, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK) hyena_fftconv_bwd_g_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_rows<__half, false>(p); }
// The two-block kernels at m = 2^13 (4K < L ≤ 8K: the paper's 8K rows), log2 m at compile time
// (MC_TWO; ops::fftconv picks them by n): the generic ones above serve the other two-block shapes.
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_m13_bf16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__nv_bfloat16, false, true, false, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_m13_f16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__half, false, true, false, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_a_2b_m13_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_a_two<__nv_bfloat16, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_a_2b_m13_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_a_two<__half, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_g_2b_m13_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_g_two<__nv_bfloat16, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_g_2b_m13_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_g_two<__half, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_inner_m13_bf16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__nv_bfloat16, true, true, false, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_inner_m13_f16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__half, true, true, false, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_inner_bf16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__nv_bfloat16, true, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_inner_f16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__half, true, true>(p); }
// The same, also writing A's bins to p.spec for the backward (its A kernel then does not run).
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_inner_spec_m13_bf16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__nv_bfloat16, true, true, true, HYENA_FFTCONV_MC_TWO>(p, p.spec); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_inner_spec_m13_f16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__half, true, true, true, HYENA_FFTCONV_MC_TWO>(p, p.spec); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_inner_spec_bf16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__nv_bfloat16, true, true, true>(p, p.spec); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_fwd_2b_inner_spec_f16(const HyenaFftConvFwdParams p) { hyena_fftconv::fwd<__half, true, true, true>(p, p.spec); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_a_spec_2b_m13_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_a_spec<__nv_bfloat16, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_a_spec_2b_m13_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_a_spec<__half, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_a_spec_2b_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_a_spec<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_a_spec_2b_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_a_spec<__half>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_a_2b_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_a_two<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_a_2b_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_a_two<__half>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_g_2b_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_g_two<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_g_2b_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_g_two<__half>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_reduce_m13_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_reduce<__nv_bfloat16, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_reduce_m13_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_reduce<__half, HYENA_FFTCONV_MC_TWO>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_reduce_f32(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_reduce<float>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_reduce_bf16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_reduce<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FFTCONV_MAX_BLOCK, HYENA_FFTCONV_TWO_BLOCKS) hyena_fftconv_bwd_reduce_f16(const HyenaFftConvBwdParams p) { hyena_fftconv::bwd_reduce<__half>(p); }
extern "C" __global__ void hyena_fftconv_long_cols_f32(const HyenaFftConvLongParams p) { hyena_fftconv::long_cols<float>(p); }
extern "C" __global__ void hyena_fftconv_long_cols_bf16(const HyenaFftConvLongParams p) { hyena_fftconv::long_cols<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_fftconv_long_cols_f16(const HyenaFftConvLongParams p) { hyena_fftconv::long_cols<__half>(p); }
// 3 row blocks per SM (2 rows of n2 complex = 64 KiB of shared memory each): at most 85 registers.
extern "C" __global__ void __launch_bounds__(HYENA_LONG_ROW_THREADS, 3) hyena_fftconv_long_rows(const HyenaFftConvLongParams p) { hyena_fftconv::long_rows<false>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_ROW_THREADS, 3) hyena_fftconv_long_rows_keep(const HyenaFftConvLongParams p) { hyena_fftconv::long_rows<true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_ROW_THREADS, 3) hyena_fftconv_long_rows_spectra(const HyenaFftConvLongParams p) { hyena_fftconv::long_rows<false, true>(p); }
// The backward's row blocks: two halves of HYENA_LONG_ROW_THREADS, at most 128 registers (16 warps per SM).
extern "C" __global__ void __launch_bounds__(2 * HYENA_LONG_ROW_THREADS) hyena_fftconv_long_rows_bwd(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_rows_bwd(p); }
// Given the forward's row spectra of a: 2 rows of n2 complex, three blocks per SM as long_rows (at most 85 registers).
extern "C" __global__ void __launch_bounds__(HYENA_LONG_ROW_THREADS, 3) hyena_fftconv_long_rows_bwd_kept(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_rows_bwd_kept(p); }
extern "C" __global__ void hyena_fftconv_long_out_f32(const HyenaFftConvLongParams p) { hyena_fftconv::long_out<float>(p); }
extern "C" __global__ void hyena_fftconv_long_out_bf16(const HyenaFftConvLongParams p) { hyena_fftconv::long_out<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_fftconv_long_out_f16(const HyenaFftConvLongParams p) { hyena_fftconv::long_out<__half>(p); }
extern "C" __global__ void hyena_fftconv_long_grad_h_f32(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_h<float, false>(p); }
extern "C" __global__ void hyena_fftconv_long_grad_h_bf16(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_h<__nv_bfloat16, false>(p); }
extern "C" __global__ void hyena_fftconv_long_grad_h_f16(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_h<__half, false>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK, 3) hyena_fftconv_long_cols_reg_f32(const HyenaFftConvLongParams p) { hyena_fftconv::long_cols_reg<float>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK, 3) hyena_fftconv_long_cols_reg_bf16(const HyenaFftConvLongParams p) { hyena_fftconv::long_cols_reg<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK, 3) hyena_fftconv_long_cols_reg_f16(const HyenaFftConvLongParams p) { hyena_fftconv::long_cols_reg<__half>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK) hyena_fftconv_long_out_reg_f32(const HyenaFftConvLongParams p) { hyena_fftconv::long_out_reg<float>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK) hyena_fftconv_long_out_reg_bf16(const HyenaFftConvLongParams p) { hyena_fftconv::long_out_reg<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK) hyena_fftconv_long_out_reg_f16(const HyenaFftConvLongParams p) { hyena_fftconv::long_out_reg<__half>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK) hyena_fftconv_long_grad_h_reg_f32(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_h<float, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK) hyena_fftconv_long_grad_h_reg_bf16(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_h<__nv_bfloat16, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK) hyena_fftconv_long_grad_h_reg_f16(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_h<__half, true>(p); }
extern "C" __global__ void hyena_fftconv_long_grad_in_f32(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_in<float, false>(p); }
extern "C" __global__ void hyena_fftconv_long_grad_in_bf16(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_in<__nv_bfloat16, false>(p); }
extern "C" __global__ void hyena_fftconv_long_grad_in_f16(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_in<__half, false>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK) hyena_fftconv_long_grad_in_reg_f32(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_in<float, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK) hyena_fftconv_long_grad_in_reg_bf16(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_in<__nv_bfloat16, true>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_LONG_COLS_BLOCK) hyena_fftconv_long_grad_in_reg_f16(const HyenaFftConvLongBwdParams p) { hyena_fftconv::long_grad_in<__half, true>(p); }

// Every block of these kernels does the same work (one channel, or one (channel, batch) row, of
// the same length): the simulator may count a sample of blocks and scale (SimDevice::set_block_sample).
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_filter_m12_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_filter_m12_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_m12_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_m12_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_m12_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_m12_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_m12_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_m12_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_m13_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_filter_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_filter_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_filter_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_inner_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_inner_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_inner_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_m13_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_a_2b_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_a_2b_m13_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_2b_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_2b_m13_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_a_2b_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_inner_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_inner_m13_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_inner_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_inner_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_inner_spec_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_inner_spec_m13_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_inner_spec_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_2b_inner_spec_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_a_spec_2b_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_a_spec_2b_m13_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_a_spec_2b_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_a_spec_2b_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_a_2b_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_2b_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_2b_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_f16);
// The four-step (long) path: one column tile, row or output tile per block, all of one size.
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_cols_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_cols_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_cols_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_rows);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_rows_keep);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_rows_spectra);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_rows_bwd);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_rows_bwd_kept);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_out_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_out_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_out_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_h_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_h_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_h_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_cols_reg_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_cols_reg_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_cols_reg_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_out_reg_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_out_reg_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_out_reg_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_h_reg_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_h_reg_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_h_reg_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_in_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_in_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_in_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_in_reg_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_in_reg_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_long_grad_in_reg_f16);
