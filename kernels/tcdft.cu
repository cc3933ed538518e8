/*
 * tcdft.cu: a batched complex DFT of length 256 on tensor cores (TF32 mma.sync), the first step
 * towards tensor-core FFT stages in the fused convolution (docs/GPU_MODEL.md, "Tensor-core FFT
 * stages"). Not used by the operator yet.
 *
 * n = 16·n1 + n2, k = k1 + 16·k2, F = the 16×16 DFT matrix (F[j][k] = W16^{jk}, W_N = e^{-2πi/N}):
 *   stage 1  Y[k1][n2] = Σ_n1 F[k1][n1] · x[16·n1 + n2]       (Y = F·X, X[n1][n2] = x[16 n1 + n2])
 *   twiddle  Y[k1][n2] ·= W256^{k1·n2}                          (CUDA cores, in registers)
 *   stage 2  y[k1 + 16·k2] = Σ_n2 Y[k1][n2] · F[n2][k2]         (Z = Y·F)
 * Each stage is a 16×16 by 16×16 complex product done as real tf32 GEMMs (re·re − im·im,
 * re·im + im·re) with mma.m16n8k8: 2 column tiles × 2 k-steps × 4 real products = 16 MMAs per stage
 * and transform. One warp per transform; nothing goes through shared memory: stage 1's D fragment
 * (rows k1 = g, g+8, columns n2 = 2t, 2t+1 of each 8-column tile) is stage 2's A fragment once
 * the contraction index n2 is permuted inside each k-step (A column slot κ holds
 * n2 = 8·ks + 2·(κ%4) + κ/4), and stage 2's B operand, the constant F, is loaded with the same
 * permutation of its rows.
 *
 * Accuracy: with split = 0 every operand is rounded once to tf32 (unit roundoff 2^-11); with
 * split = 1 each operand is a = hi + lo (hi = tf32(a), lo = tf32(a − hi)) and each product is
 * hi·hi + hi·lo + lo·hi (3xTF32), f32-level. The measured errors and their bounds:
 * tests/all/fftconv/tcdft.rs and docs/GPU_MODEL.md.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common.cuh"
#include "hyena_params.h"
#include "mma.cuh"

namespace hyena {
namespace tcdft {

/* cos(2πm/256), m = 0..255 (rounded to nearest f32): W256^m = TC_COS[m] − i·TC_COS[(m − 64) mod 256]. */
__constant__ float TC_COS[256] = {
    1.000000000f, 9.996988187e-1f, 9.987954562e-1f, 9.972904567e-1f, 9.951847267e-1f, 9.924795346e-1f, 9.891765100e-1f, 9.852776424e-1f,
    9.807852804e-1f, 9.757021300e-1f, 9.700312532e-1f, 9.637760658e-1f, 9.569403357e-1f, 9.495281806e-1f, 9.415440652e-1f, 9.329927988e-1f,
    9.238795325e-1f, 9.142097557e-1f, 9.039892931e-1f, 8.932243012e-1f, 8.819212643e-1f, 8.700869911e-1f, 8.577286100e-1f, 8.448535652e-1f,
    8.314696123e-1f, 8.175848132e-1f, 8.032075315e-1f, 7.883464276e-1f, 7.730104534e-1f, 7.572088465e-1f, 7.409511254e-1f, 7.242470830e-1f,
    7.071067812e-1f, 6.895405447e-1f, 6.715589548e-1f, 6.531728430e-1f, 6.343932842e-1f, 6.152315906e-1f, 5.956993045e-1f, 5.758081914e-1f,
    5.555702330e-1f, 5.349976199e-1f, 5.141027442e-1f, 4.928981922e-1f, 4.713967368e-1f, 4.496113297e-1f, 4.275550934e-1f, 4.052413140e-1f,
    3.826834324e-1f, 3.598950365e-1f, 3.368898534e-1f, 3.136817404e-1f, 2.902846773e-1f, 2.667127575e-1f, 2.429801799e-1f, 2.191012402e-1f,
    1.950903220e-1f, 1.709618888e-1f, 1.467304745e-1f, 1.224106752e-1f, 9.801714033e-2f, 7.356456360e-2f, 4.906767433e-2f, 2.454122852e-2f,
    0.000000000f, -2.454122852e-2f, -4.906767433e-2f, -7.356456360e-2f, -9.801714033e-2f, -1.224106752e-1f, -1.467304745e-1f, -1.709618888e-1f,
    -1.950903220e-1f, -2.191012402e-1f, -2.429801799e-1f, -2.667127575e-1f, -2.902846773e-1f, -3.136817404e-1f, -3.368898534e-1f, -3.598950365e-1f,
    -3.826834324e-1f, -4.052413140e-1f, -4.275550934e-1f, -4.496113297e-1f, -4.713967368e-1f, -4.928981922e-1f, -5.141027442e-1f, -5.349976199e-1f,
    -5.555702330e-1f, -5.758081914e-1f, -5.956993045e-1f, -6.152315906e-1f, -6.343932842e-1f, -6.531728430e-1f, -6.715589548e-1f, -6.895405447e-1f,
    -7.071067812e-1f, -7.242470830e-1f, -7.409511254e-1f, -7.572088465e-1f, -7.730104534e-1f, -7.883464276e-1f, -8.032075315e-1f, -8.175848132e-1f,
    -8.314696123e-1f, -8.448535652e-1f, -8.577286100e-1f, -8.700869911e-1f, -8.819212643e-1f, -8.932243012e-1f, -9.039892931e-1f, -9.142097557e-1f,
    -9.238795325e-1f, -9.329927988e-1f, -9.415440652e-1f, -9.495281806e-1f, -9.569403357e-1f, -9.637760658e-1f, -9.700312532e-1f, -9.757021300e-1f,
    -9.807852804e-1f, -9.852776424e-1f, -9.891765100e-1f, -9.924795346e-1f, -9.951847267e-1f, -9.972904567e-1f, -9.987954562e-1f, -9.996988187e-1f,
    -1.000000000f, -9.996988187e-1f, -9.987954562e-1f, -9.972904567e-1f, -9.951847267e-1f, -9.924795346e-1f, -9.891765100e-1f, -9.852776424e-1f,
    -9.807852804e-1f, -9.757021300e-1f, -9.700312532e-1f, -9.637760658e-1f, -9.569403357e-1f, -9.495281806e-1f, -9.415440652e-1f, -9.329927988e-1f,
    -9.238795325e-1f, -9.142097557e-1f, -9.039892931e-1f, -8.932243012e-1f, -8.819212643e-1f, -8.700869911e-1f, -8.577286100e-1f, -8.448535652e-1f,
    -8.314696123e-1f, -8.175848132e-1f, -8.032075315e-1f, -7.883464276e-1f, -7.730104534e-1f, -7.572088465e-1f, -7.409511254e-1f, -7.242470830e-1f,
    -7.071067812e-1f, -6.895405447e-1f, -6.715589548e-1f, -6.531728430e-1f, -6.343932842e-1f, -6.152315906e-1f, -5.956993045e-1f, -5.758081914e-1f,
    -5.555702330e-1f, -5.349976199e-1f, -5.141027442e-1f, -4.928981922e-1f, -4.713967368e-1f, -4.496113297e-1f, -4.275550934e-1f, -4.052413140e-1f,
    -3.826834324e-1f, -3.598950365e-1f, -3.368898534e-1f, -3.136817404e-1f, -2.902846773e-1f, -2.667127575e-1f, -2.429801799e-1f, -2.191012402e-1f,
    -1.950903220e-1f, -1.709618888e-1f, -1.467304745e-1f, -1.224106752e-1f, -9.801714033e-2f, -7.356456360e-2f, -4.906767433e-2f, -2.454122852e-2f,
    0.000000000f, 2.454122852e-2f, 4.906767433e-2f, 7.356456360e-2f, 9.801714033e-2f, 1.224106752e-1f, 1.467304745e-1f, 1.709618888e-1f,
    1.950903220e-1f, 2.191012402e-1f, 2.429801799e-1f, 2.667127575e-1f, 2.902846773e-1f, 3.136817404e-1f, 3.368898534e-1f, 3.598950365e-1f,
    3.826834324e-1f, 4.052413140e-1f, 4.275550934e-1f, 4.496113297e-1f, 4.713967368e-1f, 4.928981922e-1f, 5.141027442e-1f, 5.349976199e-1f,
    5.555702330e-1f, 5.758081914e-1f, 5.956993045e-1f, 6.152315906e-1f, 6.343932842e-1f, 6.531728430e-1f, 6.715589548e-1f, 6.895405447e-1f,
    7.071067812e-1f, 7.242470830e-1f, 7.409511254e-1f, 7.572088465e-1f, 7.730104534e-1f, 7.883464276e-1f, 8.032075315e-1f, 8.175848132e-1f,
    8.314696123e-1f, 8.448535652e-1f, 8.577286100e-1f, 8.700869911e-1f, 8.819212643e-1f, 8.932243012e-1f, 9.039892931e-1f, 9.142097557e-1f,
    9.238795325e-1f, 9.329927988e-1f, 9.415440652e-1f, 9.495281806e-1f, 9.569403357e-1f, 9.637760658e-1f, 9.700312532e-1f, 9.757021300e-1f,
    9.807852804e-1f, 9.852776424e-1f, 9.891765100e-1f, 9.924795346e-1f, 9.951847267e-1f, 9.972904567e-1f, 9.987954562e-1f, 9.996988187e-1f,
};

__device__ __forceinline__ float wre(int m) { return TC_COS[m & 255]; }
__device__ __forceinline__ float wim(int m) { return -TC_COS[(m - 64) & 255]; }

/* The twiddles W256^{k1·n2} of this lane's stage-1 accumulator elements: tile nt, element i at
 * (k1 = g + 8·(i/2), n2 = 2t + i%2 + 8·nt), the C/D layout of both MMA shapes (mma.cuh). */
__device__ __forceinline__ void stage1_twiddles(int g, int t, float (&tw_re)[2][4], float (&tw_im)[2][4]) {
    for (int nt = 0; nt < 2; ++nt)
        for (int i = 0; i < 4; ++i) {
            const int m = (g + 8 * (i / 2)) * (2 * t + i % 2 + 8 * nt);
            tw_re[nt][i] = wre(m);
            tw_im[nt][i] = wim(m);
        }
}

/* An operand fragment split for 3xTF32 (lo = 0 unused when split is off). */
template <int N> struct Frag {
    uint32_t hi[N], lo[N];
};

/* Element r of f from v: split (mma.cuh's split_tf32, spelled out here: called through an if/else
 * on SPLIT, the simulator's host code reads the 1xTF32 instance as 309.9 instead of 288.9
 * warp-instructions per transform in the model, for the same SASS) or rounded once. */
template <bool SPLIT, int N> __device__ __forceinline__ void set(Frag<N> &f, int r, float v) {
    f.hi[r] = to_tf32(v);
    f.lo[r] = SPLIT ? to_tf32(v - __uint_as_float(f.hi[r])) : 0u;
}

/* The same fragment with every element negated (exact: the sign bit of each tf32). */
__device__ __forceinline__ Frag<2> neg(Frag<2> f) {
    for (int r = 0; r < 2; ++r) {
        f.hi[r] ^= 0x80000000u;
        f.lo[r] ^= 0x80000000u;
    }
    return f;
}

/* d += A·B: 3xTF32 (mma.cuh, the small cross terms first) or one tf32 MMA. */
template <bool SPLIT> __device__ __forceinline__ void mma3(float d[4], const Frag<4> &a, const Frag<2> &b) {
    if (SPLIT) {
        mma_m16n8k8_3xtf32(d, a.hi, a.lo, b.hi, b.lo);
    } else {
        mma_m16n8k8_tf32(d, a.hi, b.hi, d);
    }
}

/* (dr + i·di) += (ar + i·ai)·(br + i·bi) on one 16×8 tile. */
template <bool SPLIT>
__device__ __forceinline__ void cmma(float dr[4], float di[4], const Frag<4> &ar, const Frag<4> &ai,
                                     const Frag<2> &br, const Frag<2> &bi) {
    mma3<SPLIT>(dr, ar, br);
    mma3<SPLIT>(dr, ai, neg(bi));
    mma3<SPLIT>(di, ar, bi);
    mma3<SPLIT>(di, ai, br);
}

/* Warps per block (one transform per warp per iteration). */
constexpr int WARPS = 4;

/* One instance per operand precision (SPLIT: 3xTF32), chosen once per launch: a runtime flag
 * inside the loop would leave the split's MMAs in the 1xTF32 path as predicated-off instructions
 * that still issue. */
template <bool SPLIT> __device__ void dft256(const HyenaTcDftParams p) {
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    /* Constant operands, once per warp: stage 1's A = F (rows k1, columns n1 = t + 4·(r/2) + 8·ks),
     * stage 2's B = F (rows n2 permuted as above, columns k2 = g + 8·nt), and the twiddles of this
     * lane's stage-1 D elements. */
    Frag<4> fa_re[2], fa_im[2];
    Frag<2> fb_re[2][2], fb_im[2][2];
    float tw_re[2][4], tw_im[2][4];
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {
        for (int r = 0; r < 4; ++r) {
            const int m = 16 * (((g + 8 * (r % 2)) * (t + 4 * (r / 2) + 8 * ks)) & 15);
            set<SPLIT>(fa_re[ks], r, wre(m));
            set<SPLIT>(fa_im[ks], r, wim(m));
        }
        for (int nt = 0; nt < 2; ++nt)
            for (int r = 0; r < 2; ++r) {
                const int m = 16 * (((8 * ks + 2 * t + r) * (g + 8 * nt)) & 15);
                set<SPLIT>(fb_re[ks][nt], r, wre(m));
                set<SPLIT>(fb_im[ks][nt], r, wim(m));
            }
    }
    stage1_twiddles(g, t, tw_re, tw_im);

    const float2 *x = reinterpret_cast<const float2 *>(p.x);
    float2 *y = reinterpret_cast<float2 *>(p.y);
    const uint64_t warps = (uint64_t)gridDim.x * WARPS;
    for (uint64_t s = (uint64_t)blockIdx.x * WARPS + threadIdx.x / 32; s < p.batch; s += warps) {
        const float2 *xs = x + s * 256;
        /* stage 1: B = X, element (n1 = t + 4r + 8·ks, n2 = g + 8·nt) */
        Frag<4> a2_re[2], a2_im[2];
        for (int nt = 0; nt < 2; ++nt) {
            float dr[4] = {0.f, 0.f, 0.f, 0.f}, di[4] = {0.f, 0.f, 0.f, 0.f};
            for (int ks = 0; ks < 2; ++ks) {
                Frag<2> br, bi;
                for (int r = 0; r < 2; ++r) {
                    const float2 v = xs[16 * (t + 4 * r + 8 * ks) + g + 8 * nt];
                    set<SPLIT>(br, r, v.x);
                    set<SPLIT>(bi, r, v.y);
                }
                cmma<SPLIT>(dr, di, fa_re[ks], fa_im[ks], br, bi);
            }
            /* twiddle, then D (columns 2t, 2t+1) becomes A of k-step nt (slots t, t+4) */
            for (int i = 0; i < 4; ++i) {
                const float re = dr[i] * tw_re[nt][i] - di[i] * tw_im[nt][i];
                const float im = dr[i] * tw_im[nt][i] + di[i] * tw_re[nt][i];
                const int r = (i / 2) + 2 * (i % 2);
                set<SPLIT>(a2_re[nt], r, re);
                set<SPLIT>(a2_im[nt], r, im);
            }
        }
        /* stage 2: D element i of tile nt is y[k1 + 16·k2], k1 = g + 8·(i/2), k2 = 2t + i%2 + 8·nt */
        float2 *ys = y + s * 256;
        for (int nt = 0; nt < 2; ++nt) {
            float zr[4] = {0.f, 0.f, 0.f, 0.f}, zi[4] = {0.f, 0.f, 0.f, 0.f};
            for (int ks = 0; ks < 2; ++ks) cmma<SPLIT>(zr, zi, a2_re[ks], a2_im[ks], fb_re[ks][nt], fb_im[ks][nt]);
            for (int i = 0; i < 4; ++i) ys[(g + 8 * (i / 2)) + 16 * (2 * t + i % 2 + 8 * nt)] = make_float2(zr[i], zi[i]);
        }
    }
}

/* Two fp32 values as one f16x2 operand register (a in the low half; round to nearest: one F2FP). */
__device__ __forceinline__ uint32_t pack_f16(float a, float b) {
    const __half2 h = __floats2half2_rn(a, b);
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
}

/* (dr + i·di) += (ar + i·ai)·(br + i·bi) on one 16×8 tile, f16 operands (m16n8k16: K = 16, the
 * whole contraction of a radix-16 stage in one step); −bi by flipping both halves' sign bits. */
__device__ __forceinline__ void cmma16(float dr[4], float di[4], const uint32_t ar[4], const uint32_t ai[4],
                                       const uint32_t br[2], const uint32_t bi[2]) {
    const uint32_t nbi[2] = {bi[0] ^ 0x80008000u, bi[1] ^ 0x80008000u};
    mma_m16n8k16_f16(dr, ar, br, dr);
    mma_m16n8k16_f16(dr, ai, nbi, dr);
    mma_m16n8k16_f16(di, ar, bi, di);
    mma_m16n8k16_f16(di, ai, br, di);
}

/* The constant f16 operands of the f16 DFT-256 (layouts in the comment of dft256_f16 below): stage
 * 1's A = F16 (register r at k1 = g + 8(r%2), n1 = 2t + 8(r/2), two halves) and stage 2's B = F16
 * (tile nt, register r at n2 = 2t + 8r, k2 = g + 8 nt). */
__device__ __forceinline__ void f16_dft16_operands(int g, int t, uint32_t fa_re[4], uint32_t fa_im[4],
                                                   uint32_t fb_re[2][2], uint32_t fb_im[2][2]) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
        const int k1 = g + 8 * (r % 2), n1 = 2 * t + 8 * (r / 2);
        const int m0 = 16 * ((k1 * n1) & 15), m1 = 16 * ((k1 * (n1 + 1)) & 15);
        fa_re[r] = pack_f16(wre(m0), wre(m1));
        fa_im[r] = pack_f16(wim(m0), wim(m1));
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const int n2 = 2 * t + 8 * r, k2 = g + 8 * nt;
            const int m0 = 16 * ((n2 * k2) & 15), m1 = 16 * (((n2 + 1) * k2) & 15);
            fb_re[nt][r] = pack_f16(wre(m0), wre(m1));
            fb_im[nt][r] = pack_f16(wim(m0), wim(m1));
        }
    }
}

/* One DFT-256 with f16 operands, its operands and output through the caller's accessors (the
 * DFT-256 kernel reads global memory and holds its constants in registers; the FFT-8192's stage 2
 * reads shared planes and tables): load_b(nt, r, br, bi) sets stage 1's B register r of tile nt
 * (halves at n1 = 2t + 8r and + 1, n2 = g + 8 nt); twiddle(nt, i, wr, wi) gives W256^{k1·n2} of D
 * element i of tile nt; fb(nt, b_re, b_im) sets stage 2's B of tile nt; store(nt, i, K, re, im) takes
 * output bin K = dft256_bin(g, t, nt, i), stage 2's D element i of tile nt. */
/* The bin of the DFT-256's output in D element i of tile nt of lane 4g + t (k1 = g + 8(i/2),
 * k2 = 2t + i%2 + 8 nt, K = k1 + 16 k2). Read as stage 1's B operand of another DFT-256 (input
 * index 16 n1 + n2 with n1 = k2, n2 = k1), the same lane holds register r = nt of tile i/2, half
 * i%2: a DFT-256's output feeds a second one with no data movement (conv8192_f16). */
__device__ __forceinline__ int dft256_bin(int g, int t, int nt, int i) { return (g + 8 * (i / 2)) + 16 * (2 * t + i % 2 + 8 * nt); }

template <class LoadB, class Twiddle, class FB, class Store>
__device__ __forceinline__ void dft256_f16_one(int g, int t, const uint32_t fa_re[4], const uint32_t fa_im[4],
                                               LoadB load_b, Twiddle twiddle, FB fb, Store store) {
    uint32_t a2_re[4], a2_im[4];
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
        uint32_t br[2], bi[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) load_b(nt, r, br[r], bi[r]);
        float dr[4] = {0.f, 0.f, 0.f, 0.f}, di[4] = {0.f, 0.f, 0.f, 0.f};
        cmma16(dr, di, fa_re, fa_im, br, bi);
        float re[4], im[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            float wr, wi;
            twiddle(nt, i, wr, wi);
            re[i] = dr[i] * wr - di[i] * wi;
            im[i] = dr[i] * wi + di[i] * wr;
        }
        a2_re[2 * nt] = pack_f16(re[0], re[1]);
        a2_re[2 * nt + 1] = pack_f16(re[2], re[3]);
        a2_im[2 * nt] = pack_f16(im[0], im[1]);
        a2_im[2 * nt + 1] = pack_f16(im[2], im[3]);
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
        uint32_t b_re[2], b_im[2];
        fb(nt, b_re, b_im);
        float zr[4] = {0.f, 0.f, 0.f, 0.f}, zi[4] = {0.f, 0.f, 0.f, 0.f};
        cmma16(zr, zi, a2_re, a2_im, b_re, b_im);
#pragma unroll
        for (int i = 0; i < 4; ++i) store(nt, i, dft256_bin(g, t, nt, i), zr[i], zi[i]);
    }
}

/* The same transform with f16 operands (u = 2⁻¹¹, as tf32; for 2-byte storage, docs/GPU_MODEL.md
 * "What the targets need"): per stage 2 column tiles × 4 real products = 8 MMAs (the tf32 kernel's
 * 16), two operands per conversion. Layout of m16n8k16 (mma.cuh): stage 1 A = F, register r half h
 * at (k1 = g + 8·(r%2), n1 = 2t + h + 8·(r/2)); B = X tile nt at (n1 = 2t + h + 8r, n2 = g + 8·nt);
 * its D element i at (k1 = g + 8·(i/2), n2 = 2t + i%2 + 8·nt) is stage 2's A register 2·nt + i/2,
 * half i%2 (rows k1, contraction n2: no permutation); stage 2 B = F tile nt at (n2 = 2t + h + 8r,
 * k2 = g + 8·nt). Values stay in f16's range for data in [−1, 1] (|Y| ≤ 16 after stage 1); a
 * kernel for general rows would scale per stage. */
__device__ void dft256_f16(const HyenaTcDftParams p) {
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    uint32_t fa_re[4], fa_im[4], fb_re[2][2], fb_im[2][2];
    float tw_re[2][4], tw_im[2][4];
    f16_dft16_operands(g, t, fa_re, fa_im, fb_re, fb_im);
    stage1_twiddles(g, t, tw_re, tw_im);
    const float2 *x = reinterpret_cast<const float2 *>(p.x);
    float2 *y = reinterpret_cast<float2 *>(p.y);
    const uint64_t warps = (uint64_t)gridDim.x * WARPS;
    for (uint64_t s = (uint64_t)blockIdx.x * WARPS + threadIdx.x / 32; s < p.batch; s += warps) {
        const float2 *xs = x + s * 256;
        float2 *ys = y + s * 256;
        dft256_f16_one(
            g, t, fa_re, fa_im,
            [&](int nt, int r, uint32_t &br, uint32_t &bi) {
                const float2 v0 = xs[16 * (2 * t + 8 * r) + g + 8 * nt];
                const float2 v1 = xs[16 * (2 * t + 1 + 8 * r) + g + 8 * nt];
                br = pack_f16(v0.x, v1.x);
                bi = pack_f16(v0.y, v1.y);
            },
            [&](int nt, int i, float &wr, float &wi) {
                wr = tw_re[nt][i];
                wi = tw_im[nt][i];
            },
            [&](int nt, uint32_t b_re[2], uint32_t b_im[2]) {
                for (int r = 0; r < 2; ++r) {
                    b_re[r] = fb_re[nt][r];
                    b_im[r] = fb_im[nt][r];
                }
            },
            [&](int, int, int k, float re, float im) { ys[k] = make_float2(re, im); });
    }
}

/* ---- An 8192-point complex FFT on tensor cores, one row per block (prototype) -------------------
 *
 * The fused convolution's 8K row is a complex FFT of m = 8192 points (its real 16384-point
 * transform folded in half). This kernel is that FFT alone, to price tensor-core stages inside a
 * block-per-row kernel (docs/GPU_MODEL.md, "Tensor-core FFT stages", step (a)); not used by the
 * operator. Four-step, 8192 = 32 · 256, input index p = 256·n + k (n < 32, k < 256):
 *   stage 1   Y[k][q] = Σ_n x[256 n + k] · W32^{nq}        a GEMM (256 × 32)·(32 × 32): warp w takes
 *             rows k = 16w … 16w + 15, A straight from global memory (each 8 consecutive k of one n
 *             are 64 contiguous bytes), B = the constant DFT-32 matrix (a shared table); 4 column tiles
 *             × 2 k-steps × 4 real products = 32 MMAs per warp
 *   twiddle   Y[k][q] ·= W8192^{kq}, by a per-lane recurrence over the column tiles (q += 8:
 *             one complex product by W8192^{8k}; the bases from sincospif once per block, in a shared table)
 *   exchange  Y to shared memory (re and im planes, 4-byte words) at 256 q + k, one barrier
 *   stage 2   for each q, the DFT-256 over k (hyena_tc_dft256_f16mma_f32's two radix-16 stages,
 *             its B operand from shared memory): warp w takes q = w and 32 − w (warp 0: 0 and
 *             16, the mirror pairs of the real-FFT split); output bin K of
 *             row q is bin q + 32 K of the row, written to y at 256 q + K
 * So y holds the transform in the four-step's order (y[256 q + K] = X[q + 32 K]): an FFT
 * convolution multiplies pointwise in that order and its inverse takes it back, so no kernel of
 * the convolution needs natural order but the real-FFT split (bins k and m − k), left out here.
 * Global traffic: one read and one write of the row (8-byte accesses, 8 consecutive per 64 bytes);
 * shared: one store and one load per point, conflict-free (below). 64 registers (two blocks of
 * 16 warps per SM on sm_90: 94 KiB of shared memory each): the constant operands and twiddle
 * bases live in shared tables, read lane-indexed where used (FFT8K_CONST_ROWS).
 *
 * Shared layout: point p at S(p) = p ^ (8·(((p >> 5) + (p >> 9)) & 3)) in each plane. Stage 1's
 * stores touch p = 512 t + g + c and stage 2's loads p = 32 t + g + c (lane = 4 g + t, c fixed per
 * instruction, a multiple of 8 with g + c mod 32 < 32): the XOR gives the four t of each g four
 * different groups of 8 banks in both, so every access is one wavefront.
 *
 * Range: operands are f16; for inputs in [−1, 1] stage 1's outputs are ≤ 32, stage 2's first
 * stage's ≤ 512 and the result ≤ 8192 (fp32 accumulators). A kernel for general rows would scale
 * per stage (a power of two folded into the constant matrices and twiddles costs nothing). */
constexpr int FFT8K_WARPS = 16;

/* Point p's word in a shared plane (see above). */
__device__ __forceinline__ unsigned fft8k_slot(unsigned p) { return p ^ ((((p >> 5) + (p >> 9)) & 3u) << 3); }

/* fft8k_slot of the points a lane touches, as a base plus constants (immediate offsets instead of
 * the XOR chain per access): the XOR touches only bits 3–4 and is the same for all of them.
 * Column q's points 256 q + g + 32t + c + 128 j (c ∈ {0, 8, 16, 24}, j < 2: stage 2's loads with
 * c = 8 nt + 16 h, j = r; its bins dft256_bin with c = 8(i/2) + 16(i%2), j = nt) are at
 * base + 128 j + (c ^ x), x = ((t + q/2) mod 4)·8. */
struct Fft8kCol {
    unsigned base, x;
    __device__ __forceinline__ unsigned at(int c, int j) const { return base + 128u * j + ((unsigned)c ^ x); }
};
__device__ __forceinline__ Fft8kCol fft8k_col(unsigned q, int g, int t) {
    return {256u * q + 32u * t + g, ((t + (q >> 1)) & 3u) << 3};
}
/* Warp w's rows: the points 256 q + 16 w + g + 8 b with q = 2t + h + 8 u (stage 1's stores, the
 * inverse stage 1's loads) are at fft8k_row(w, g, t, b) + 256 h + 2048 u. */
__device__ __forceinline__ unsigned fft8k_row(int w, int g, int t, int b) {
    const unsigned x = ((t + (w >> 1)) & 3u) << 3;
    return 512u * t + 32u * (w >> 1) + g + ((8u * b + 16u * (w & 1)) ^ x);
}

/* The constant operands, the same for every warp, one 32-bit word per (row, lane) of a shared
 * table, read lane-indexed (conflict-free) where used: held in registers they took the kernel to
 * 125 registers (one block of 16 warps per SM); from the table it fits 64 (two blocks, 32 warps).
 * Rows: stage 1's F32 (tile nt, register r: re at 2 nt + r, im at 8 + 2 nt + r), stage 2's A = F16
 * (re 16 + r, im 20 + r) and B = F16 (re 24 + 2 nt + r, im 28 + 2 nt + r), stage 2's twiddles
 * (re 32 + 4 nt + i, im 40 + 4 nt + i, f32 bits). */
constexpr int FFT8K_CONST_ROWS = 48;

/* The shared tables of the 8192-point kernels (the FFT and the convolution below). */
struct Fft8kTables {
    uint32_t cst[FFT8K_CONST_ROWS][32];
    /* Twiddles W8192^{kq} of this lane's stage-1 D elements i of tile 0 (k = 16w + g + 8(i/2),
     * q = 2t + i%2) (entries 0–3) and the steps W8192^{8k} to the next tile (4, 5): per warp, re
     * and im planes, one word per lane and entry, read where used. */
    float tws_re[FFT8K_WARPS][6][32], tws_im[FFT8K_WARPS][6][32];
};

/* Fills the tables: warp 0 the constants, every warp its twiddles (the caller's barrier
 * publishes them). */
__device__ __forceinline__ void fft8k_tables(Fft8kTables &tb, int w, int lane, int g, int t) {
    if (w == 0) {
        /* Stage 1's B = F32 (k-step ks, tile nt, register r, half h at n = 2t + h + 8r + 16 ks,
         * q = g + 8 nt): W32^{nq} = W256^{8nq}, stored for ks = 0 only (fft8k_stage1). */
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                const int n = 2 * t + 8 * r, q = g + 8 * nt;
                const int m0 = 8 * ((n * q) & 31), m1 = 8 * (((n + 1) * q) & 31);
                tb.cst[2 * nt + r][lane] = pack_f16(wre(m0), wre(m1));
                tb.cst[8 + 2 * nt + r][lane] = pack_f16(wim(m0), wim(m1));
            }
        /* Stage 2's constants, hyena_tc_dft256_f16mma_f32's. */
        uint32_t fa_re[4], fa_im[4], fb_re[2][2], fb_im[2][2];
        f16_dft16_operands(g, t, fa_re, fa_im, fb_re, fb_im);
#pragma unroll
        for (int r = 0; r < 4; ++r) {
            tb.cst[16 + r][lane] = fa_re[r];
            tb.cst[20 + r][lane] = fa_im[r];
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            tb.cst[24 + j][lane] = fb_re[j / 2][j % 2];
            tb.cst[28 + j][lane] = fb_im[j / 2][j % 2];
        }
        float tr[2][4], ti[2][4];
        stage1_twiddles(g, t, tr, ti);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            tb.cst[32 + j][lane] = __float_as_uint(tr[j / 4][j % 4]);
            tb.cst[40 + j][lane] = __float_as_uint(ti[j / 4][j % 4]);
        }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int k = 16 * w + g + 8 * (i / 2), q = 2 * t + i % 2;
        float sn, cs;
        sincospif(-(float)((k * q) & 8191) / 4096.0f, &sn, &cs);
        tb.tws_re[w][i][lane] = cs;
        tb.tws_im[w][i][lane] = sn;
    }
#pragma unroll
    for (int j = 0; j < 2; ++j) {
        const int k = 16 * w + g + 8 * j;
        float sn, cs;
        sincospif(-(float)((8 * k) & 8191) / 4096.0f, &sn, &cs);
        tb.tws_re[w][4 + j][lane] = cs;
        tb.tws_im[w][4 + j][lane] = sn;
    }
}

/* Stage 1 of the 8192-point kernels: the DFT-32 down the columns of the row x (rows k = 16w + g +
 * 8(r%2) of this warp), KS k-steps of 16 input columns n (KS = 1: n ≥ 16, the row's second half,
 * is the convolution's zero padding, neither read nor multiplied), twiddled by W8192^{kq}, into
 * the shared planes at fft8k_slot(256 q + k). A (k-step ks, register r, half h) at k = 16w + g +
 * 8(r%2), n = 2t + h + 8(r/2) + 16 ks: load(ks, r, re, im) sets register r of k-step ks, re and
 * im parts (fft8k_points: from a row in memory). */
/* The loader of fft8k_stage1 for a row x of complex f32 points (8-byte accesses, the 8
 * consecutive k of a register in 64 contiguous bytes). */
__device__ __forceinline__ auto fft8k_points(const float2 *x, int w, int g, int t) {
    return [=](int ks, int r, uint32_t &re, uint32_t &im) {
        const float2 *at = x + 256 * (2 * t + 8 * (r / 2) + 16 * ks) + 16 * w + g + 8 * (r % 2);
        const float2 v0 = at[0];
        const float2 v1 = at[256];
        re = pack_f16(v0.x, v1.x);
        im = pack_f16(v0.y, v1.y);
    };
}
template <int KS, class Load>
__device__ __forceinline__ void fft8k_stage1(Load load, const Fft8kTables &tb, int w, int lane, int g, int t, float *s_re,
                                             float *s_im) {
    uint32_t a_re[KS][4], a_im[KS][4];
#pragma unroll
    for (int ks = 0; ks < KS; ++ks)
#pragma unroll
        for (int r = 0; r < 4; ++r) load(ks, r, a_re[ks][r], a_im[ks][r]);
    /* k-step 1's F32 registers: W32^{(n+16)q} = (−1)^q W32^{nq} and q ≡ g (mod 2), so k-step 0's
     * with both halves' signs flipped on odd g (one LOP3 each). */
    const uint32_t odd = (g & 1) ? 0x80008000u : 0u;
    float2 tw[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) tw[i] = make_float2(tb.tws_re[w][i][lane], tb.tws_im[w][i][lane]);
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
        const uint32_t b0_re[2] = {tb.cst[2 * nt][lane], tb.cst[2 * nt + 1][lane]};
        const uint32_t b0_im[2] = {tb.cst[8 + 2 * nt][lane], tb.cst[8 + 2 * nt + 1][lane]};
        float dr[4] = {0.f, 0.f, 0.f, 0.f}, di[4] = {0.f, 0.f, 0.f, 0.f};
        cmma16(dr, di, a_re[0], a_im[0], b0_re, b0_im);
        if (KS == 2) {
            const uint32_t b1_re[2] = {b0_re[0] ^ odd, b0_re[1] ^ odd}, b1_im[2] = {b0_im[0] ^ odd, b0_im[1] ^ odd};
            cmma16(dr, di, a_re[KS - 1], a_im[KS - 1], b1_re, b1_im);
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            // k = 16w + g + 8(i/2), q = 2t + i%2 + 8 nt
            const unsigned slot = fft8k_row(w, g, t, i / 2) + 256 * (i % 2) + 2048 * nt;
            s_re[slot] = dr[i] * tw[i].x - di[i] * tw[i].y;
            s_im[slot] = dr[i] * tw[i].y + di[i] * tw[i].x;
            if (nt < 3) {  // the step to the next tile (none after the last)
                const float sr = tb.tws_re[w][4 + i / 2][lane];
                const float si = tb.tws_im[w][4 + i / 2][lane];
                tw[i] = make_float2(tw[i].x * sr - tw[i].y * si, tw[i].x * si + tw[i].y * sr);
            }
        }
    }
}

/* Stage 2's operand accessors for dft256_f16_one over column q of the shared planes: its A
 * (F16), B (the column, two points per register), twiddles and stage-2 B, from the tables. */
__device__ __forceinline__ void fft8k_fa(const Fft8kTables &tb, int lane, uint32_t fa_re[4], uint32_t fa_im[4]) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
        fa_re[r] = tb.cst[16 + r][lane];
        fa_im[r] = tb.cst[20 + r][lane];
    }
}
/* fft8k_column(…, conj): the column's points 256q + 16(2t + 8r) + g + 8 nt and + 16 as stage 1's B
 * register r of tile nt; after the convolution's stage 2 wrote its bins back, the same slots hold
 * bins dft256_bin(g, t, r, 2 nt) and (…, 2 nt + 1): the inverse's B operand, imaginary halves
 * negated by conj = 0x80008000; each value times sc first (1: folded away). */
__device__ __forceinline__ auto fft8k_column(const float *s_re, const float *s_im, unsigned q, int g, int t, uint32_t conj = 0u,
                                            float sc = 1.0f) {
    const Fft8kCol col = fft8k_col(q, g, t);
    return [=](int nt, int r, uint32_t &br, uint32_t &bi) {
        const unsigned s0 = col.at(8 * nt, r), s1 = col.at(8 * nt + 16, r);
        // One shared load per line: the model's SASS estimate reads a line's unroll factor from
        // its opcode counts and the host's requests per execution.
        const float r0 = s_re[s0];
        const float r1 = s_re[s1];
        const float i0 = s_im[s0];
        const float i1 = s_im[s1];
        br = pack_f16(r0 * sc, r1 * sc);
        bi = pack_f16(i0 * sc, i1 * sc) ^ conj;
    };
}
__device__ __forceinline__ auto fft8k_twiddle(const Fft8kTables &tb, int lane) {
    return [&tb, lane](int nt, int i, float &wr, float &wi) {
        wr = __uint_as_float(tb.cst[32 + 4 * nt + i][lane]);
        wi = __uint_as_float(tb.cst[40 + 4 * nt + i][lane]);
    };
}
__device__ __forceinline__ auto fft8k_fb(const Fft8kTables &tb, int lane) {
    return [&tb, lane](int nt, uint32_t b_re[2], uint32_t b_im[2]) {
        for (int r = 0; r < 2; ++r) {
            b_re[r] = tb.cst[24 + 2 * nt + r][lane];
            b_im[r] = tb.cst[28 + 2 * nt + r][lane];
        }
    };
}

__device__ void fft8192_f16(const HyenaTcDftParams p) {
    HYENA_DYN_SHARED(float, sm);
    float *s_re = sm, *s_im = sm + 8192;
    __shared__ Fft8kTables tb;
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, w = threadIdx.x / 32;
    fft8k_tables(tb, w, lane, g, t);
    __syncthreads();  // the constants

    // Rows as 32-bit (ops::tcdft::tc_fft8192 bounds the batch): a 64-bit row counter and two
    // row pointers held across the row took the registers that kept this kernel at 64 unspilled.
    for (unsigned row = blockIdx.x; row < (unsigned)p.batch; row += gridDim.x) {
        fft8k_stage1<2>(fft8k_points(reinterpret_cast<const float2 *>(p.x) + (uint64_t)row * 8192, w, g, t), tb, w, lane, g, t, s_re,
                        s_im);
        __syncthreads();
        /* Stage 2: columns q = w and 32 − w (warp 0: 0 and 16), the pairs whose bins mirror each
         * other (bin q + 32K and m − that: column 32 − q, lane 31 − lane, element 3 − i, tile
         * 1 − nt; docs/GPU_MODEL.md, "Next on the prototype"), so that a real-FFT split can pair
         * them in registers (conv8192_f16 does). */
        float2 *y = reinterpret_cast<float2 *>(p.y) + (uint64_t)row * 8192;
#pragma unroll 1
        for (int j = 0; j < 2; ++j) {
            const int q = ((j == 0 ? w : 32 - w) & 31) ^ ((j & (w == 0)) << 4);  // w; 32 − w, or 16 for w = 0
            uint32_t fa_re[4], fa_im[4];
            fft8k_fa(tb, lane, fa_re, fa_im);
            dft256_f16_one(g, t, fa_re, fa_im, fft8k_column(s_re, s_im, q, g, t), fft8k_twiddle(tb, lane), fft8k_fb(tb, lane),
                           [&](int, int, int k, float re, float im) { y[256 * q + k] = make_float2(re, im); });
        }
        __syncthreads();  // the next row's stage 1 overwrites the planes
    }
}

/* ---- A causal convolution of real 8192-point rows on tensor cores (prototype) ------------------
 *
 * s = h ∗ a for real rows a of L = 8192 points (the fused convolution's 8K row: n = 16384 real
 * points after zero padding, m = 8192 complex), all on the FFT-8192's stages, f16 operands:
 *   stage 1     fft8k_stage1<1> on z[j] = a[2j] + i·a[2j+1] (j < 4096: the padded half of the
 *               row is skipped, one k-step), to the shared planes; barrier
 *   stage 2     the DFT-256s of columns qa = w and qb = 32 − w (warp 0: 0 and 16), kept in
 *               registers: Z[q + 32K] in lane 4g + t, tile nt, element i (K = dft256_bin)
 *   bin pairs   the real-FFT split, the product by the filter's spectrum and the fold back, in one:
 *               Z'[k] = A_k·Z[k] + B_k·conj(Z[m − k]) with per-channel coefficients (A, B) of bin k
 *               (cpu::tcdft::conv8192_coefficients: A = S + D·Im W^k, B = i·D·Re W^k, S, D = H_k ±
 *               conj H_{m−k}, W = e^{−2πi/n}, H = FFT_n(h)/n: the fused conv's split, product and
 *               fold, fftconv.cu, collapsed to two complex products), stored as f16 times a
 *               per-channel power of two 2^s (largest component in [2^13, 2^14): f16's relative
 *               precision for the whole spectrum, 8 bytes per bin as today's f32 hf), the product
 *               times 2^-s in f32 (exact). The mirror of (qa, K) is
 *               (qb, 255 − K) (column 16 mirrors itself, column 0 maps K to 256 − K): each warp
 *               writes its two columns' bins back to their own slots of the planes (only this warp
 *               reads its columns), one lane takes both bins of a pair from there and writes both
 *               results back. (Held in registers across the DFTs, the two columns' bins took the
 *               kernel to 220 bytes of spills at 64 registers.)
 *   inverse 2   the inverse DFT-256 of each column from the slots its lanes wrote (a DFT-256's D
 *               element is the next one's B operand in the same lane, dft256_bin), as
 *               conj(DFT(conj Z')), then W8192^{kq} (a per-lane base and warp-uniform steps), to
 *               the planes; barrier
 *   inverse 1   the DFT-32 over q of rows k (A from the planes, two k-steps), only the 16 output
 *               columns n < 16 the causal output keeps: conj of it is z'[256 n + k] = s[2j] +
 *               i·s[2j + 1], j = 256 n + k < 4096, written as one 8-byte pair
 * Global traffic per row: a read once (8-byte accesses), s written once, the coefficients (8
 * bytes per bin, the channel's, shared by its batch rows through L2); shared: one store and one
 * load per point each way and one load and one store per bin for the pairs, all conflict-free
 * (fft8k_slot; the mirror pattern checked by enumeration). Three barriers per row, as the FFT.
 * Range: as the FFT's, f16 operands: the kernel needs |a| ≤ 1 and the spectrum product in f16's
 * range (a kernel for general rows would scale per stage by a power of two). */

/* The convolution's inverse twiddles W8192^{kq} of column q: k = g + 32t + 8(i/2) + 16(i%2) +
 * 128 nt in lane 4g + t (dft256_bin), from the base W8192^{q(g + 32t)} by the steps W8192^{8q},
 * W8192^{16q}, W8192^{24q} (i = 2, 1, 3) and W8192^{128q} (nt = 1). */
struct Conv8kTables {
    float itw_re[32][32], itw_im[32][32];  // [q][lane]: 4-byte words, one wavefront per request
    float istep_re[32][4], istep_im[32][4];  // [q]: 8q, 16q, 24q, 128q (warp-uniform: broadcast)
};

/* z ← (A·z + B·conj(p))·sc: c = (A re, A im, B re, B im)·2^s as four f16 (8 bytes), sc = 2^-s. */
__device__ __forceinline__ void conv8k_pair(float &zr, float &zi, uint64_t c, float sc, float pr, float pi) {
    __half2 h0, h1;
    const uint32_t lo = (uint32_t)c, hi = (uint32_t)(c >> 32);
    memcpy(&h0, &lo, 4);
    memcpy(&h1, &hi, 4);
    const float2 a = __half22float2(h0), b = __half22float2(h1);
    const float r = a.x * zr - a.y * zi + b.x * pr + b.y * pi;
    const float i = a.x * zi + a.y * zr + b.y * pr - b.x * pi;
    zr = r * sc;
    zi = i * sc;
}

/* One bin pair in the shared planes: the bins at slots so and sm_ (coefficients co, cm) read,
 * both results written back. A function, not a lambda: g++ left the lambda out of line in the
 * simulator's host build (`flatten` notwithstanding), so its lines' counts lost their call sites,
 * and the `uint2` coefficients it took by value, loaded in the caller as call arguments, were
 * never counted (checked: with this function, uint2 arguments are). */
__device__ __forceinline__ void conv8k_pair_at(float *s_re, float *s_im, unsigned so, unsigned sm_, uint64_t co, uint64_t cm,
                                               float sc) {
    float zr = s_re[so];
    float zi = s_im[so];
    float mr = s_re[sm_];
    float mi = s_im[sm_];
    const float zr0 = zr, zi0 = zi;
    conv8k_pair(zr, zi, co, sc, mr, mi);
    conv8k_pair(mr, mi, cm, sc, zr0, zi0);
    s_re[so] = zr;
    s_im[so] = zi;
    s_re[sm_] = mr;
    s_im[sm_] = mi;
}

__device__ __forceinline__ float2 cmulf(float2 a, float2 b) { return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }

/* The inverse twiddle table (Conv8kTables), filled by the block; the caller's barrier publishes it. */
__device__ __forceinline__ void conv8k_tables(Conv8kTables &ct) {
    for (int e = threadIdx.x; e < 32 * 32; e += blockDim.x) {
        const int q = e / 32, l = e % 32;
        float sn, cs;
        sincospif(-(float)((q * (l / 4 + 32 * (l % 4))) & 8191) / 4096.0f, &sn, &cs);
        ct.itw_re[q][l] = cs;
        ct.itw_im[q][l] = sn;
    }
    if (threadIdx.x < 128) {
        const int q = threadIdx.x / 4, j = threadIdx.x % 4;
        const int e = q * (j == 3 ? 128 : 8 * (j + 1));
        float sn, cs;
        sincospif(-(float)(e & 8191) / 4096.0f, &sn, &cs);
        ct.istep_re[q][j] = cs;
        ct.istep_im[q][j] = sn;
    }
}

/* One pass over warp w's two columns qa = w, qb = 32 − w (warp 0: 0 and 16), rolled (64
 * registers): pass(q, col, fa_re, fa_im). */
template <class Pass> __device__ __forceinline__ void conv8k_each_column(const Fft8kTables &tb, int w, int lane, int g, int t, Pass pass) {
    const unsigned qa = w, qb = w == 0 ? 16u : 32u - w;
#pragma unroll 1
    for (int j = 0; j < 2; ++j) {
        const unsigned q = j == 0 ? qa : qb;
        uint32_t fa_re[4], fa_im[4];
        fft8k_fa(tb, lane, fa_re, fa_im);
        pass(q, fft8k_col(q, g, t), fa_re, fa_im);
    }
}

/* The forward half of conv8k_row: stage 1 from load, the barrier, stage 2 (each column's bins
 * back to its own slots: free once read, only this warp reads its columns), then __syncwarp: each
 * warp's columns qa, qb hold Z in the four-step order. */
template <class Load>
__device__ __forceinline__ void conv8k_forward(const Fft8kTables &tb, float *s_re, float *s_im, int w, int lane, int g, int t, Load load) {
    fft8k_stage1<1>(load, tb, w, lane, g, t, s_re, s_im);
    __syncthreads();
    conv8k_each_column(tb, w, lane, g, t, [&](unsigned q, const Fft8kCol col, const uint32_t *fa_re, const uint32_t *fa_im) {
        dft256_f16_one(g, t, fa_re, fa_im, fft8k_column(s_re, s_im, q, g, t), fft8k_twiddle(tb, lane), fft8k_fb(tb, lane),
                       [&](int nt, int i, int, float re, float im) {
                           if (nt == 0 && i == 0) __syncwarp();  // every lane has read the column
                           const unsigned slot = col.at(8 * (i / 2) + 16 * (i % 2), nt);
                           s_re[slot] = re;
                           s_im[slot] = im;
                       });
    });
    __syncwarp();
}

/* The inverse half of conv8k_row, from each warp's columns qa, qb (Z' in the four-step order,
 * written by this warp since its last __syncwarp): out(j, re, im) as there; sc (a power of two, or
 * 1) scales the planes' values where they become f16 operands (hyena_fftconv_bwd_reduce_tc_m13's
 * spectrum, any magnitude, to f16's range). OUT_SYNC: a barrier between the last stage's reads of
 * the planes and the out calls, which may then write the planes (bwd8192<T, true> stores grad_a
 * there). Ends with the barrier after which the planes are free (or hold what out wrote). */
template <bool OUT_SYNC = false, class Out>
__device__ __forceinline__ void conv8k_inverse(const Fft8kTables &tb, const Conv8kTables *ct, float *s_re, float *s_im, int w, int lane,
                                               int g, int t, Out out, float sc = 1.0f) {
    /* Inverse stage 2 of each column from its slots: B register r of tile nt is bins
     * dft256_bin(nt = r, i = 2 nt, 2 nt + 1) (a DFT-256's output is the next one's input),
     * imaginary halves negated (conj); the result times W8192^{kq} back to the slots. */
    conv8k_each_column(tb, w, lane, g, t, [&](unsigned q, const Fft8kCol col, const uint32_t *fa_re, const uint32_t *fa_im) {
        dft256_f16_one(g, t, fa_re, fa_im, fft8k_column(s_re, s_im, q, g, t, 0x80008000u, sc), fft8k_twiddle(tb, lane),
                       fft8k_fb(tb, lane), [&](int nt, int i, int, float re, float im) {
                           auto step = [&](int j) { return make_float2(ct->istep_re[q][j], ct->istep_im[q][j]); };
                           const float2 base = make_float2(ct->itw_re[q][lane], ct->itw_im[q][lane]);
                           const float2 bn = nt ? cmulf(base, step(3)) : base;
                           const float2 tw = i == 0 ? bn : cmulf(bn, step(i == 1 ? 1 : i == 2 ? 0 : 2));
                           const unsigned slot = col.at(8 * (i / 2) + 16 * (i % 2), nt);
                           s_re[slot] = re * tw.x - im * tw.y;
                           s_im[slot] = re * tw.y + im * tw.x;
                       });
    });
    __syncthreads();
    /* Inverse stage 1: rows k = 16w + g + 8(r%2), A (k-step ks, register r, half h) at q = 2t + h
     * + 8(r/2) + 16 ks from the planes; B = F32 (symmetric: stage 1's tiles, n = g + 8 nt) for the
     * output columns n < 16 only. */
    {
        uint32_t a_re[2][4], a_im[2][4];
#pragma unroll
        for (int ks = 0; ks < 2; ++ks)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                // points 256(2t + 8(r/2) + 16 ks) + 16w + g + 8(r%2) and + 256
                const unsigned s0 = fft8k_row(w, g, t, r % 2) + 2048 * (r / 2 + 2 * ks), s1 = s0 + 256;
                const float r0 = s_re[s0];
                const float r1 = s_re[s1];
                const float i0 = s_im[s0];
                const float i1 = s_im[s1];
                a_re[ks][r] = pack_f16(r0, r1);
                a_im[ks][r] = pack_f16(i0, i1);
            }
        if constexpr (OUT_SYNC) __syncthreads();  // every thread's operands read: out may write the planes
        const uint32_t odd = (g & 1) ? 0x80008000u : 0u;
#pragma unroll
        for (int nt = 0; nt < 2; ++nt) {
            const uint32_t b0_re[2] = {tb.cst[2 * nt][lane], tb.cst[2 * nt + 1][lane]};
            const uint32_t b0_im[2] = {tb.cst[8 + 2 * nt][lane], tb.cst[8 + 2 * nt + 1][lane]};
            const uint32_t b1_re[2] = {b0_re[0] ^ odd, b0_re[1] ^ odd}, b1_im[2] = {b0_im[0] ^ odd, b0_im[1] ^ odd};
            float dr[4] = {0.f, 0.f, 0.f, 0.f}, di[4] = {0.f, 0.f, 0.f, 0.f};
            cmma16(dr, di, a_re[0], a_im[0], b0_re, b0_im);
            cmma16(dr, di, a_re[1], a_im[1], b1_re, b1_im);
#pragma unroll
            for (int i = 0; i < 4; ++i) out(256u * (2 * t + i % 2 + 8 * nt) + 16 * w + g + 8 * (i / 2), dr[i], -di[i]);
        }
    }
    __syncthreads();  // the next row's stage 1 overwrites the planes
}

/* One row of the 8192-point convolutions (the stages of the comment above), the row's own parts
 * through the caller's hooks: load (fft8k_stage1's loader, the packed row z), pairs() (the bin
 * pairs, between two __syncwarp: each warp's columns qa, qb are in their slots, Z in the
 * four-step order), out(j, re, im) (z'[j], j < 4096, of the causal half: the unnormalised
 * inverse of the pairs' result, one call per lane and D element). Ends with the barrier after
 * which the planes are free. */
template <bool INVERSE = true, bool OUT_SYNC = false, class Load, class Pairs, class Out>
__device__ __forceinline__ void conv8k_row(const Fft8kTables &tb, const Conv8kTables *ct, float *s_re, float *s_im, int w,
                                           int lane, int g, int t, Load load, Pairs pairs, Out out) {
    conv8k_forward(tb, s_re, s_im, w, lane, g, t, load);
    pairs();
    if constexpr (!INVERSE) {  // the forward transform alone (the filter's spectrum): planes free
        __syncthreads();
        return;
    }
    __syncwarp();
    conv8k_inverse<OUT_SYNC>(tb, ct, s_re, s_im, w, lane, g, t, out);
}

__device__ void conv8192_f16(const HyenaTcConvParams p) {
    HYENA_DYN_SHARED(float, sm);
    float *s_re = sm, *s_im = sm + 8192;
    __shared__ Fft8kTables tb;
    __shared__ Conv8kTables ct;
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, w = threadIdx.x / 32;
    fft8k_tables(tb, w, lane, g, t);
    conv8k_tables(ct);
    __syncthreads();  // the tables
    const unsigned qa = w, qb = w == 0 ? 16u : 32u - w;

    for (unsigned row = blockIdx.x; row < (unsigned)p.rows; row += gridDim.x) {
        float2 *y = reinterpret_cast<float2 *>(p.s) + (uint64_t)row * 4096;
        conv8k_row(
            tb, &ct, s_re, s_im, w, lane, g, t, fft8k_points(reinterpret_cast<const float2 *>(p.a) + (uint64_t)row * 4096, w, g, t),
            [&] {
                /* The bin pairs (the comment above): one lane takes both bins of a pair, reads them
                 * and writes both results, so no lane reads what another writes. Warps 1–15: every
                 * bin of column qa leads (its mirror is in qb). */
                const unsigned ch = row % (unsigned)p.channels;
                // 8-byte scalars (uint2 also counts since conv8k_pair_at is a function, see there).
                const uint64_t *cf = reinterpret_cast<const uint64_t *>(p.coef) + (uint64_t)ch * 8192;
                const float sc = reinterpret_cast<const float *>(p.scale)[ch];
                if (w != 0) {
                    /* Bin k = g + 32t + c + 128 nt of column qa (c = 8(i/2) + 16(i%2)) and its
                     * mirror 255 − k = (7 − g) + 32(3 − t) + (24 − c) + 128(1 − nt) of qb:
                     * fft8k_slot of either XORs only bits 3–4, by ((t + q/2) mod 4)·8 (the c part),
                     * so both slots and both coefficients are a per-row base plus a constant
                     * (immediate offsets). */
                    const Fft8kCol ca = fft8k_col(qa, g, t), cm = fft8k_col(qb, 7 - g, 3 - t);
                    const uint64_t *cfa = cf + ca.base, *cfm = cf + cm.base;
#pragma unroll
                    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
                        for (int i = 0; i < 4; ++i) {
                            const int c = 8 * (i / 2) + 16 * (i % 2);
                            conv8k_pair_at(s_re, s_im, ca.at(c, nt), cm.at(24 - c, 1 - nt), cfa[c + 128 * nt],
                                           cfm[128 * (1 - nt) + 24 - c], sc);
                        }
                } else {
                    /* Warp 0: the bins K < 128 of columns 0 and 16 (tile 0; their mirrors are K ≥
                     * 128 of the same column) and column 0's K = 128, its own mirror (lane 0, tile
                     * 1, element 0); slots and coefficients from the bin (column 0 breaks the
                     * bases' pattern: its mirror is 256 − K). */
                    auto pair = [&](unsigned q, int k) {
                        const unsigned km = (255u - k + (q == 0)) & 255u;
                        conv8k_pair_at(s_re, s_im, fft8k_slot(256u * q + k), fft8k_slot(256u * ((32u - q) & 31u) + km),
                                       cf[256 * q + k], cf[256 * ((32u - q) & 31u) + km], sc);
                    };
#pragma unroll
                    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
                        for (int i = 0; i < 4; ++i) pair(16u * nt, dft256_bin(g, t, 0, i));
                    if (lane == 0) {
                        // Column 0's K = 128, its own mirror: its own lines (through conv8k_pair_at,
                        // then a lambda g++ left out of line, lane 0's extra executions of its
                        // accesses shifted the simulator's grouping of requests by one per row: 1.01
                        // wavefronts per request over 8 rows a block).
                        const unsigned s0 = fft8k_slot(128);
                        const float zr = s_re[s0];
                        const float zi = s_im[s0];
                        float r = zr, i = zi;
                        conv8k_pair(r, i, cf[128], sc, zr, zi);
                        s_re[s0] = r;
                        s_im[s0] = i;
                    }
                }
            },
            [&](unsigned j, float re, float im) { y[j] = make_float2(re, im); });
    }
}

/* ---- The fused gated convolution's forward at 4K < L ≤ 8K on tensor cores ----------------------
 *
 * hyena_fftconv_fwd_tc_m13_{bf16,f16} (HyenaFftConvFwdParams, log2n = 14, 4096 < L ≤ 8192): what
 * hyena_fftconv_fwd_2b_inner_spec_m13_* computes, y = post ⊙ (h ∗ a + D·a) with a = pre ⊙ v, inner
 * (when given) and the row's real spectrum A = rFFT_n(a) bins 0 … m (when spec is given), on the
 * convolution above (conv8k_row), with three differences from the prototype:
 *   - a per-row power of two: the row's largest |a| is taken to [1/2, 1) before the f16 operands
 *     (a warp max, one barrier), and back at the output and the spectrum (exact in f32), so any
 *     row within f32's range meets the stages' range (the prototype's |a| ≤ 1);
 *   - the pair's coefficients from the filter spectrum hf itself (f32, filter8192's below, the
 *     same buffer the backward reads): bins k and m − k of hf are
 *     the two the lane's pair needs, so A_k = S + D·Im W^k, B_k = i·D·Re W^k (S, D = H_k ± conj
 *     H_{m−k}, W = e^{−2πi/n}) and the mirror's A_{m−k} = conj(S − D·Im W^k), B_{m−k} = i·conj(D)·Re
 *     W^k are formed in f32 where used: no coefficient kernel, no f16 rounding of the filter;
 *   - the spectrum A from the same pair (X_k = E + W^k·O, X_{m−k} = conj(E − W^k·O), E, O the
 *     halves of Z_k ± conj Z_{m−k}, smfft's split), W^k from a per-lane base (Fwd8kTables) times
 *     constants, stored in the four-step order (fftconv.cu's spec_at: the layout of every m = 2^13
 *     kernel's spectrum, which hyena_fftconv_bwd_g_2b_m13_* reads as aspec): 8 consecutive bins per
 *     8 lanes, as the FFT's own order.
 * Rows channel-major as the SIMT forward (row r = c·B + b: the spectrum's index; consecutive rows
 * share hf in the L2). Global traffic per row: v, pre and post read once (4-byte pairs; the output
 * reads v and pre again for D·a, from the L2: the planes hold the transform), y and inner written
 * once, hf's 8 bytes per bin read and the spectrum's written once (both in the four-step order: 8
 * consecutive bins per 8 lanes; in natural order each lane's 8 bytes took a 32-byte sector). */
struct Fwd8kTables {
    /* W16384^{q + 32g + 1024t} of lane 4g + t, columns q = 0 … 16 (warp w's column qa = w, warp 0's
     * 0 and 16): bin q + 32K's W^k for K = g + 32t + c + 128 nt is this times W^{32c}·W^{4096 nt}. */
    float wk_re[17][32], wk_im[17][32];
    float red[FFT8K_WARPS];  // each warp's largest |a| of the row
    float es;                // the row's 2^-e (read where used: one register fewer across the stages)
};

/* W16384^{32c}, c = 8(i/2) + 16(i%2): e^{−iπj/32} for j = i/2 + 2(i%2) (i = 0 … 3). */
__device__ __forceinline__ float2 fwd8k_wc(int i) {
    const int j = i / 2 + 2 * (i % 2);
    return j == 0   ? make_float2(1.0f, 0.0f)
           : j == 1 ? make_float2(9.951847267e-1f, -9.801714033e-2f)
           : j == 2 ? make_float2(9.807852804e-1f, -1.950903220e-1f)
                    : make_float2(9.569403357e-1f, -2.902846773e-1f);
}

/* The real spectrum bins X_k = E + W^k·O and X_{m−k} = conj(E − W^k·O) (E, O: (Z_k ± conj
 * Z_{m−k})/2 and its −i multiple, smfft's split) of a packed row's Z_k = (zr, zi), Z_{m−k} = (mr,
 * mi), w = W16384^k, times sc, to sk and smk. */
__device__ __forceinline__ void fwd8k_split(float zr, float zi, float mr, float mi, float2 w, float sc, float2 *sk, float2 *smk) {
    const float h = 0.5f * sc;
    const float er = (zr + mr) * h, ei = (zi - mi) * h;
    const float orr = (zi + mi) * h, oi = -(zr - mr) * h;  // −i·(Z_k − conj Z_{m−k})·h
    const float wr = w.x * orr - w.y * oi, wi = w.x * oi + w.y * orr;
    *sk = make_float2(er + wr, ei + wi);
    *smk = make_float2(er - wr, -(ei - wi));
}

/* The product of one bin pair, written back to slots so and sm_: Z_k = (zr, zi), Z_{m−k} = (mr, mi)
 * of the packed row times the filter's spectrum hk = H_k, hm = H_{m−k} (w = W16384^k), as the
 * packed spectrum of the real product: Z'_k = A_k Z_k + B_k conj Z_{m−k}, Z'_{m−k} = A_{m−k}
 * Z_{m−k} + B_{m−k} conj Z_k (the coefficients of the comment above, formed here in f32). */
__device__ __forceinline__ void fwd8k_product(float *s_re, float *s_im, unsigned so, unsigned sm_, float zr, float zi, float mr, float mi,
                                              float2 hk, float2 hm, float2 w) {
    const float sr = hk.x + hm.x, si = hk.y - hm.y;  // S = H_k + conj H_{m−k}
    const float dr = hk.x - hm.x, di = hk.y + hm.y;  // D = H_k − conj H_{m−k}
    const float akr = sr + dr * w.y, aki = si + di * w.y;    // A_k = S + D·Im W^k
    const float bkr = -di * w.x, bki = dr * w.x;             // B_k = i·D·Re W^k
    const float amr = sr - dr * w.y, ami = -(si - di * w.y);  // A_{m−k} = conj(S − D·Im W^k)
    const float bmr = di * w.x, bmi = dr * w.x;              // B_{m−k} = i·conj(D)·Re W^k
    s_re[so] = akr * zr - aki * zi + bkr * mr + bki * mi;
    s_im[so] = akr * zi + aki * zr + bki * mr - bkr * mi;
    s_re[sm_] = amr * mr - ami * mi + bmr * zr + bmi * zi;
    s_im[sm_] = amr * mi + ami * mr + bmi * zr - bmr * zi;
}

/* One bin pair of the forward: bins at slots so and sm_ (k and m − k), the filter's spectrum there
 * (hk = hf[k], hm = hf[m − k]), w = W16384^k; both results written back; the row's A bins X_k,
 * X_{m−k} (times es, the row's 2^-e) to sk, sm when sk is given. A function, as conv8k_pair_at. */
__device__ __forceinline__ void fwd8k_pair_at(float *s_re, float *s_im, unsigned so, unsigned sm_, const float2 *hk_at,
                                              const float2 *hm_at, float2 w, float2 *sk, float2 *smk, float es) {
    const float zr = s_re[so];
    const float zi = s_im[so];
    const float mr = s_re[sm_];
    const float mi = s_im[sm_];
    const float2 hk = *hk_at;
    const float2 hm = *hm_at;
    if (sk) fwd8k_split(zr, zi, mr, mi, w, es, sk, smk);
    fwd8k_product(s_re, s_im, so, sm_, zr, zi, mr, mi, hk, hm, w);
}

/* One bin pair of the backward (hyena_fftconv_bwd_g_tc_m13, below): the row's G bins (the split of
 * the packed g's Z_k, Z_{m−k} at slots so, sm_, times es) times conj A from ak_at, am_at (the
 * forward's spectrum) to wsk, wsm, and the pair's product with conj H (the correlation: grad_a =
 * g ⋆ h) written back. A function, as conv8k_pair_at. */
__device__ __forceinline__ void bwd8k_pair_at(float *s_re, float *s_im, unsigned so, unsigned sm_, const float2 *hk_at, const float2 *hm_at,
                                              const float2 *ak_at, const float2 *am_at, float2 *wsk, float2 *wsm, float2 w, float es) {
    const float zr = s_re[so];
    const float zi = s_im[so];
    const float mr = s_re[sm_];
    const float mi = s_im[sm_];
    float2 gk, gm;
    fwd8k_split(zr, zi, mr, mi, w, es, &gk, &gm);
    const float2 ak = *ak_at;
    const float2 am = *am_at;
    *wsk = make_float2(gk.x * ak.x + gk.y * ak.y, gk.y * ak.x - gk.x * ak.y);  // G·conj A
    *wsm = make_float2(gm.x * am.x + gm.y * am.y, gm.y * am.x - gm.x * am.y);
    const float2 hk = *hk_at;
    const float2 hm = *hm_at;
    fwd8k_product(s_re, s_im, so, sm_, zr, zi, mr, mi, make_float2(hk.x, -hk.y), make_float2(hm.x, -hm.y), w);
}

/* Two consecutive storage values at an even index of a row (4-byte aligned: fwd8192's rows, L even
 * and every tensor 4-byte aligned, ops::fftconv::fwd_tensor_cores) as floats, and the store of two
 * (one 32-bit word each: common.cuh's ld_vec2 / st_vec2). */
template <typename T> __device__ __forceinline__ float2 fwd8k_ld2(const T *x) {
    const typename Vec2<T>::type u = ld_vec2(reinterpret_cast<const typename Vec2<T>::type *>(x));
    return make_float2(to_f32<T>(u.x), to_f32<T>(u.y));
}
template <typename T> __device__ __forceinline__ void fwd8k_st2(T *x, float a, float b) {
    typename Vec2<T>::type u;
    u.x = from_f32<T>(a);
    u.y = from_f32<T>(b);
    st_vec2(reinterpret_cast<typename Vec2<T>::type *>(x), u);
}

/* The bin pairs of one 8192-point row in the planes after stage 2 (conv8k_row), warp w's share:
 * pair(so, sm_, ik, imk, w) for bins k = q + 32K and m − k at slots so and sm_, w = W16384^k, and
 * ik, imk their places in the four-step order of the spectra the m = 2^13 kernels exchange (hf, A:
 * bin q + 32K at 256q + K, bin m at m; fftconv.cu's spec_at); self(s0, i0) for bin m/2 (column 0's
 * K = 128, its own mirror; lane 0 of warp 0). Warps 1–15: bin K = g + 32t + c + 128 nt of column qa
 * = w (c = 8(i/2) + 16(i%2)) and its mirror 255 − K of qb = 32 − w, slots as conv8192_f16's (a
 * per-lane base plus constants), the four-step places 256q + K: 8 consecutive per 8 lanes. Warp 0:
 * bins K < 128 of columns 0 and 16 (mirrors in the same column: 256 − K of column 0, bin 0's is
 * bin m; 255 − K of column 16). UNROLL: warps 1–15's pairs unrolled per nt (4: all four; 2 where
 * the caller's pair holds more live: bwd8192's, to stay at 64 registers unspilled). */
template <int UNROLL = 4, class Pair, class Self>
__device__ __forceinline__ void fwd8k_each_pair(const Fwd8kTables &ft, int w, int lane, int g, int t, Pair pair, Self self) {
    if (w != 0) {
        const unsigned qa = w, qb = 32u - w;
        const Fft8kCol ca = fft8k_col(qa, g, t), cm = fft8k_col(qb, 7 - g, 3 - t);
        const float2 wb = make_float2(ft.wk_re[qa][lane], ft.wk_im[qa][lane]);
#pragma unroll 1  // rolled: the eight pairs unrolled held too many hf loads in flight (spills)
        for (int nt = 0; nt < 2; ++nt)
#pragma unroll(UNROLL)
            for (int i = 0; i < 4; ++i) {
                const int c = 8 * (i / 2) + 16 * (i % 2);
                const float2 wc = cmulf(wb, fwd8k_wc(i));
                const float2 wk = nt ? make_float2(wc.y, -wc.x) : wc;  // · W^{4096} = −i
                const unsigned K = g + 32u * t + c + 128u * nt;
                pair(ca.at(c, nt), cm.at(24 - c, 1 - nt), 256u * qa + K, 256u * qb + 255u - K, wk);
            }
    } else {
#pragma unroll
        for (int nt = 0; nt < 2; ++nt) {
            const unsigned q = 16u * nt;
            const float2 wb = make_float2(ft.wk_re[q][lane], ft.wk_im[q][lane]);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const unsigned K = dft256_bin(g, t, 0, i), km = (255u - K + (q == 0)) & 255u;
                const unsigned qm = (32u - q) & 31u;
                pair(fft8k_slot(256u * q + K), fft8k_slot(256u * qm + km), 256u * q + K, q == 0 && K == 0 ? 8192u : 256u * qm + km,
                     cmulf(wb, fwd8k_wc(i)));
            }
        }
        if (lane == 0) self(fft8k_slot(128), 128u);  // bin 4096 = 0 + 32·128
    }
}

/* x, opaque to the compiler (the simulator: x): the row's point indices formed again where used,
 * not kept from the row's loads to its stores or hoisted out of the row loop (either held ten
 * registers across the stages: 40–60 B of spills at 64). */
__device__ __forceinline__ unsigned fwd8k_opaque(unsigned x) {
#ifndef CUDASIM
    asm volatile("mov.u32 %0, %0;" : "+r"(x));
#endif
    return x;
}

/* The bins' twiddle bases of Fwd8kTables (the caller's barrier publishes them). */
__device__ __forceinline__ void fwd8k_tables(Fwd8kTables &ft) {
    for (int e = threadIdx.x; e < 17 * 32; e += blockDim.x) {
        const int q = e / 32, l = e % 32;
        float sn, cs;
        sincospif(-(float)(q + 32 * (l / 4) + 1024 * (l % 4)) / 8192.0f, &sn, &cs);
        ft.wk_re[q][l] = cs;
        ft.wk_im[q][l] = sn;
    }
}

/* The block's power of two from each thread's largest |x| (mx ≥ 0): a warp max, one barrier
 * (ft.red); returns ex, with 2^(126 − ex)·max ∈ [1/2, 1) (all zeros: ex = 126, a factor 1). */
__device__ __forceinline__ unsigned fwd8k_block_exponent(Fwd8kTables &ft, int w, int lane, float mx) {
    const unsigned wmax = __reduce_max_sync(0xffffffffu, __float_as_uint(mx));
    if (lane == 0) ft.red[w] = __uint_as_float(wmax);
    __syncthreads();
    float rmax = 0.0f;
#pragma unroll
    for (int j = 0; j < FFT8K_WARPS; ++j) rmax = fmaxf(rmax, ft.red[j]);
    return rmax > 0.0f ? min(__float_as_uint(rmax) >> 23, 252u) : 126u;
}

/* The row's power of two (fwd8192, filter8192): the largest |x| over the lanes' 8 points each
 * (at(lb, r, h): register r, half h of fft8k_stage1's operand, lb the lane's base, opaque), a warp
 * max and one barrier (ft.red); returns ex, with 2^(126 − ex)·max ∈ [1/2, 1) (rows of zeros: ex =
 * 126, a factor 1). */
template <class At> __device__ __forceinline__ unsigned fwd8k_row_exponent(Fwd8kTables &ft, int w, int lane, int g, int t, At at) {
    float mx = 0.0f;
    const unsigned lb = fwd8k_opaque(512u * t + 16u * w + g);
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const float2 a = at(lb, r, h);
            mx = fmaxf(mx, fmaxf(fabsf(a.x), fabsf(a.y)));
        }
    return fwd8k_block_exponent(ft, w, lane, mx);
}

/* fft8k_stage1's loader from at(lb, r, h) (read again: a fresh opaque base, so the compiler does
 * not hold the first read's addresses across the barrier) times sc. */
template <class At> __device__ __forceinline__ auto fwd8k_loader(int w, int g, int t, float sc, At at) {
    return [=](int, int r, uint32_t &re, uint32_t &im) {
        const unsigned lb = fwd8k_opaque(512u * t + 16u * w + g);
        const float2 a0 = at(lb, r, 0), a1 = at(lb, r, 1);
        re = pack_f16(a0.x * sc, a1.x * sc);
        im = pack_f16(a0.y * sc, a1.y * sc);
    };
}

/* The short conv's weights and bias of operand r (sc_w[r], sc_b[r] of fwd8192<T, true>) at channel
 * ch as (w0, w1, w2, bias) (selects, not an indexed parameter array: no local copy). */
template <typename T> __device__ __forceinline__ float4 fwd8k_sc_weights(const HyenaFftConvFwdScParams &p, int r, unsigned ch) {
    const T *wt = reinterpret_cast<const T *>(r == 0 ? p.sc_w[0] : r == 1 ? p.sc_w[1] : p.sc_w[2]) + 3 * (uint64_t)ch;
    const T *bs = reinterpret_cast<const T *>(r == 0 ? p.sc_b[0] : r == 1 ? p.sc_b[1] : p.sc_b[2]);
    return make_float4(to_f32<T>(wt[0]), to_f32<T>(wt[1]), to_f32<T>(wt[2]), to_f32<T>(bs[ch]));
}

/* The short conv's outputs at points tt, tt + 1 (tt even, tt + 1 < L) of the row z, as
 * hyena_shortconv_fwd stores them (shortconv_point, rounded to T) and read back: the pair from z,
 * the one before it (zeros before the row) from the lane 4 below (g − 1, the same t: the pair before
 * in fwd8192's point order), read by the lanes with g = 0. A shuffle of the pair's 32-bit word:
 * every lane of the warp calls it (past L with a clamped tt). (Reading the pair before from z as
 * well: 32 bytes one sector shifted touch two sectors, more L2 traffic.) */
template <typename T> __device__ __forceinline__ float2 fwd8k_sc_pair(const T *z, unsigned tt, float4 wb, int g) {
    using V = typename Vec2<T>::type;
    const V cu = ld_vec2(reinterpret_cast<const V *>(z + tt));
    uint32_t cw, bw;
    memcpy(&cw, &cu, 4);
    bw = __shfl_up_sync(0xffffffffu, cw, 4);
    if (g == 0) {
        bw = 0u;
        if (tt) {
            const V bu = ld_vec2(reinterpret_cast<const V *>(z + tt - 2));
            memcpy(&bw, &bu, 4);
        }
    }
    V c, b;
    memcpy(&c, &cw, 4);
    memcpy(&b, &bw, 4);
    const float c0 = to_f32<T>(c.x), c1 = to_f32<T>(c.y), b0 = to_f32<T>(b.x), b1 = to_f32<T>(b.y);
    return make_float2(to_f32<T>(from_f32<T>(shortconv_point(wb, b0, b1, c0))), to_f32<T>(from_f32<T>(shortconv_point(wb, b1, c0, c1))));
}

/* The forward's own parameters of either params struct (SC: HyenaFftConvFwdScParams). */
__device__ __forceinline__ const HyenaFftConvFwdParams &fwd8k_base(const HyenaFftConvFwdParams &p) { return p; }
__device__ __forceinline__ const HyenaFftConvFwdParams &fwd8k_base(const HyenaFftConvFwdScParams &p) { return p.f; }
/* Whether the short conv's operands break the kernel's shapes: its input rows null or not 4-byte
 * aligned, or the operands it writes (f.pre, f.post; f.v is checked with the forward's) absent. */
__device__ __forceinline__ bool fwd8k_sc_bad(const HyenaFftConvFwdParams &) { return false; }
__device__ __forceinline__ bool fwd8k_sc_bad(const HyenaFftConvFwdScParams &p) {
    return !p.f.pre || !p.f.post || !p.sc_z[0] || !p.sc_z[1] || !p.sc_z[2] || ((p.sc_z[0] | p.sc_z[1] | p.sc_z[2]) & 3) ||
           (p.h && (p.f.b != 1 || (p.h & 3)));  // the filter's spectrum formed here: B = 1, h 4-byte aligned
}

/* One channel of the filter's spectrum: hf[ch] = rFFT_n(h[ch] zero padded)/n, bins 0 … m in the
 * four-step order (filter8192's per channel; fwd8192<T, true> with h given, at B = 1 where the
 * row's block is its channel's). The tables published and the planes free before; the caller's
 * next barrier publishes hf's stores to the block (its pairs read them back: the L2). pairs: L
 * even and h 4-byte aligned. */
template <typename T>
__device__ __forceinline__ void filter8k_channel(uint64_t h_base, uint64_t hf_base, unsigned ch, unsigned l32, bool pairs, const Fft8kTables &tb,
                                                 Fwd8kTables &ft, float *s_re, float *s_im, int w, int lane, int g, int t) {
    const T *h = reinterpret_cast<const T *>(h_base) + (uint64_t)ch * l32;
    // h at the lane's points (fwd8192's order), read twice as there; zero past L. Even L with
    // h 4-byte aligned (every row then is; block-uniform): the pair as one 32-bit word, as
    // fwd8192 reads its operands (2-byte loads halved the bytes per request, and with them
    // the DRAM bandwidth the resident warps' loads in flight sustain: 2.58 TB/s, 24.4 µs at
    // L = 8K in the model, against 14.6 µs for the bytes at copy bandwidth).
    auto h_at = [&](unsigned lb, int r, int hh) {
        const unsigned tt = 2 * (lb + 256 * (hh + 8 * (r / 2)) + 8 * (r % 2));
        if (pairs) {
            const float2 x = fwd8k_ld2(h + min(tt, l32 - 2));
            return make_float2(tt < l32 ? x.x : 0.0f, tt < l32 ? x.y : 0.0f);
        }
        const float x0 = to_f32<T>(h[min(tt, l32 - 1)]), x1 = to_f32<T>(h[min(tt + 1, l32 - 1)]);
        return make_float2(tt < l32 ? x0 : 0.0f, tt + 1 < l32 ? x1 : 0.0f);
    };
    const unsigned ex = fwd8k_row_exponent(ft, w, lane, g, t, h_at);
    // 2^-e / n (n = 2^14): exact; the rows of zeros (e = 0) as any other
    if (threadIdx.x == 0) ft.es = __uint_as_float((ex + 1u) << 23) * (1.0f / 16384.0f);
    conv8k_row<false>(
        tb, nullptr, s_re, s_im, w, lane, g, t, fwd8k_loader(w, g, t, __uint_as_float((253u - ex) << 23), h_at),
        [&] {
            const float sc = ft.es;
            float2 *hf = reinterpret_cast<float2 *>(hf_base) + (uint64_t)fwd8k_opaque(ch) * 8193;
            fwd8k_each_pair(
                ft, w, lane, g, t,
                [&](unsigned so, unsigned sm_, unsigned ik, unsigned imk, float2 wk) {
                    const float zr = s_re[so];
                    const float zi = s_im[so];
                    const float mr = s_re[sm_];
                    const float mi = s_im[sm_];
                    fwd8k_split(zr, zi, mr, mi, wk, sc, hf + ik, hf + imk);
                },
                [&](unsigned s0, unsigned i0) {
                    const float zr = s_re[s0];
                    const float zi = s_im[s0];
                    hf[i0] = make_float2(zr * sc, -zi * sc);  // X_{m/2} = conj Z_{m/2}
                });
        },
        [](unsigned, float, float) {});
}

/* SC (hyena_fftconv_fwd_sc_tc_m13_*, HyenaFftConvFwdScParams: the device operator at order 2, where
 * v, pre and post are the short conv's outputs of the rows sc_z): the short conv in the same block.
 * The pass for the row's largest |a| reads z instead of v and pre, forms all three operands
 * (fwd8k_sc_pair: the pair before from the neighbour lane) rounded to T as hyena_shortconv_fwd
 * stores them, and stores them to v, pre and post (outputs here: the backward's operands); stage 1
 * and the output then read them back as without SC (a thread's stage-1 points are the ones it
 * stored; the output's after the row's barriers), so that y, inner and the spectrum are the bits of
 * the two launches. Per row: the three z rows read once, the three operands written and read back
 * (the L2); no hyena_shortconv_fwd launch and no read of its output from DRAM. (Forming v and pre
 * in stage 1's loads and the output as well, each with its pair before from z, put the kernel on
 * the L2's bandwidth in the model, 64.4 µs at the paper's 8K, and with shuffles spilled at 64
 * registers.)
 * With h (HyenaFftConvFwdScParams::h, B = 1: the paper's setting, where a row is its channel's only
 * one) the row's block first runs the spectrum kernel's channel (filter8k_channel: h read, hf
 * written, the same bits as hyena_fftconv_filter_tc_m13_*), and the row's pairs read hf back from
 * the L2: per row h's 2L bytes read and hf's 8(m + 1) written instead of hf read from DRAM, 3
 * barriers more, one launch fewer (model, paper's 8K: 46.9 + 21.2 µs and a launch → 61.2 µs,
 * latency-bound). */

template <typename T, bool SC, class P> __device__ void fwd8192(const P pp) {
    const HyenaFftConvFwdParams &p = fwd8k_base(pp);
    HYENA_DYN_SHARED(float, sm);
    float *s_re = sm, *s_im = sm + 8192;
    __shared__ Fft8kTables tb;
    __shared__ Conv8kTables ct;
    __shared__ Fwd8kTables ft;
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, w = threadIdx.x / 32;
    const uint64_t L = p.l;
    // ops::fftconv::fwd_tensor_cores' shapes only: n = 2^14, 4096 < L ≤ 8192, L even, 4-byte aligned tensors
    // (every row then is, and a pair of points is in range or out of it together); SC: every
    // operand a short conv's (gated_fftconv_shortconv_fwd).
    if (p.log2n != 14 || L <= 4096 || L > 8192 || L % 2 || ((p.v | p.pre | p.post | p.y | p.inner) & 3) || fwd8k_sc_bad(pp)) __trap();
    fft8k_tables(tb, w, lane, g, t);
    conv8k_tables(ct);
    fwd8k_tables(ft);
    __syncthreads();  // the tables
    const unsigned l32 = (unsigned)L, rows = (unsigned)(p.b * p.c);  // ops::fftconv::fwd_tensor_cores: B·C < 2^32

    for (unsigned row = blockIdx.x; row < rows; row += gridDim.x) {
        // SC with h (B = 1: the row is its channel's only one): the channel's spectrum first, into
        // hf, which the row's pairs below then read back (the barrier of the row's exponent pass
        // publishes the stores to the block).
        if constexpr (SC) {
            if (pp.h) filter8k_channel<T>(pp.h, p.hf, row, l32, true, tb, ft, s_re, s_im, w, lane, g, t);
        }
        const unsigned ch = row / (unsigned)p.b, bi = row - ch * (unsigned)p.b;
        const uint64_t off = ((uint64_t)bi * p.c + ch) * L;
        const T *v = reinterpret_cast<const T *>(p.v) + off;
        const T *pre = p.pre ? reinterpret_cast<const T *>(p.pre) + off : nullptr;
        /* a = pre ⊙ v at the lane's 8 points of z (fft8k_stage1's operand order: register r, half
         * h), read twice: for the row's largest |a| (a warp max, one barrier), then for the
         * operands at the power of two taking it to [1/2, 1) (the second read from the L1/L2;
         * held across the barrier, the 16 values spilled at 64 registers). Branch-free: the
         * points past L read the row's last pair and are zeroed; with no pre, v again, times 1.
         * SC: the first read forms the operands from z and stores them; the second reads them. */
        auto a_at = [&](unsigned lb, int r, int h) {
            const unsigned tt = 2 * (lb + 256 * (h + 8 * (r / 2)) + 8 * (r % 2)), at = min(tt, l32 - 2);
            const float2 x = fwd8k_ld2(v + at), gp = fwd8k_ld2((pre ? pre : v) + at);
            const float in = tt < l32 ? 1.0f : 0.0f;
            const float2 a = make_float2(x.x * in, x.y * in);
            return pre ? make_float2(a.x * gp.x, a.y * gp.y) : a;
        };
        unsigned ex;
        if constexpr (SC) {
            // The operands from z (weights in registers: before the row's first barrier), stored.
            const float4 wv = fwd8k_sc_weights<T>(pp, 0, ch), wp = fwd8k_sc_weights<T>(pp, 1, ch), wq = fwd8k_sc_weights<T>(pp, 2, ch);
            ex = fwd8k_row_exponent(ft, w, lane, g, t, [&](unsigned lb, int r, int h) {
                const unsigned tt = 2 * (lb + 256 * (h + 8 * (r / 2)) + 8 * (r % 2)), at = min(tt, l32 - 2);
                const float2 x = fwd8k_sc_pair(reinterpret_cast<const T *>(pp.sc_z[0]) + off, at, wv, g);
                const float2 gp = fwd8k_sc_pair(reinterpret_cast<const T *>(pp.sc_z[1]) + off, at, wp, g);
                const float2 gq = fwd8k_sc_pair(reinterpret_cast<const T *>(pp.sc_z[2]) + off, at, wq, g);
                const float in = tt < l32 ? 1.0f : 0.0f;
                if (tt < l32) {
                    fwd8k_st2(reinterpret_cast<T *>(p.v) + off + tt, x.x, x.y);
                    fwd8k_st2(reinterpret_cast<T *>(p.pre) + off + tt, gp.x, gp.y);
                    fwd8k_st2(reinterpret_cast<T *>(p.post) + off + tt, gq.x, gq.y);
                }
                const float2 a = make_float2(x.x * in, x.y * in);
                return make_float2(a.x * gp.x, a.y * gp.y);
            });
        } else {
            ex = fwd8k_row_exponent(ft, w, lane, g, t, a_at);
        }
        if (threadIdx.x == 0) ft.es = __uint_as_float((ex + 1u) << 23);  // 2^-e, read after stage 1's barrier
        conv8k_row(
            tb, &ct, s_re, s_im, w, lane, g, t, fwd8k_loader(w, g, t, __uint_as_float((253u - ex) << 23), a_at),
            [&] {
                // Formed here, not held across the stages (64 registers). hf and the spectrum in
                // the four-step order (fwd8k_each_pair): 8 consecutive bins per 8 lanes.
                const float es = ft.es;
                const float2 *hf = reinterpret_cast<const float2 *>(p.hf) + (uint64_t)(row / (unsigned)p.b) * 8193;
                float2 *spec = p.spec ? reinterpret_cast<float2 *>(p.spec) + (uint64_t)row * 8193 : nullptr;
                fwd8k_each_pair(
                    ft, w, lane, g, t,
                    [&](unsigned so, unsigned sm_, unsigned ik, unsigned imk, float2 wk) {
                        fwd8k_pair_at(s_re, s_im, so, sm_, hf + ik, hf + imk, wk, spec ? spec + ik : nullptr, spec + imk, es);
                    },
                    [&](unsigned s0, unsigned i0) {
                        // Column 0's K = 128 (k = m/2), its own mirror: Z' = 2·conj(H)·Z, X = conj Z.
                        const float zr = s_re[s0];
                        const float zi = s_im[s0];
                        const float2 hh = hf[i0];
                        s_re[s0] = 2.0f * (hh.x * zr + hh.y * zi);
                        s_im[s0] = 2.0f * (hh.x * zi - hh.y * zr);
                        if (spec) spec[i0] = make_float2(zr * es, -zi * es);
                    });
            },
            [&](unsigned j, float re, float im) {
                const unsigned tt = 2 * fwd8k_opaque(j);
                if (tt >= l32) return;
                // The row again (pointers are not held across the FFT: 64 registers).
                const unsigned orow = fwd8k_opaque(row), och = orow / (unsigned)p.b, obi = orow - och * (unsigned)p.b;
                const uint64_t o = ((uint64_t)obi * p.c + och) * L;
                T *ry = reinterpret_cast<T *>(p.y) + o;
                T *rz = p.inner ? reinterpret_cast<T *>(p.inner) + o : nullptr;
                const float dd = to_f32<T>(reinterpret_cast<const T *>(p.d)[och]), es = ft.es;
                const T *rv = reinterpret_cast<const T *>(p.v) + o;
                const T *rp = p.pre ? reinterpret_cast<const T *>(p.pre) + o : nullptr;
                const T *rq = p.post ? reinterpret_cast<const T *>(p.post) + o : nullptr;
                float2 a = fwd8k_ld2(rv + tt);
                if (rp) {
                    const float2 gp = fwd8k_ld2(rp + tt);
                    a.x *= gp.x;
                    a.y *= gp.y;
                }
                float y0 = re * es + dd * a.x, y1 = im * es + dd * a.y;
                if (rz) fwd8k_st2(rz + tt, y0, y1);
                if (rq) {
                    const float2 gq = fwd8k_ld2(rq + tt);
                    y0 *= gq.x;
                    y1 *= gq.y;
                }
                fwd8k_st2(ry + tt, y0, y1);
            });
    }
}

/* ---- The filter's spectrum at 4K < L ≤ 8K on tensor cores --------------------------------------
 *
 * hyena_fftconv_filter_tc_m13_{bf16,f16} (HyenaFftFilterParams, log2n = 14, 4096 < L ≤ 8192, any
 * L): hf[c] = rFFT_n(h[c] zero padded)/n, bins 0 … m in the four-step order the m = 2^13 kernels
 * exchange (fwd8k_each_pair; fftconv.cu's spec_at), for the tensor-core forward's pairs to read 8
 * consecutive bins per 8 lanes (natural order: 4× the L2 traffic). One channel per block at a
 * time: conv8k_row's forward half (the row's power of two, stage 1, stage 2), then each pair's
 * split times 2^-e/n to hf (8-byte stores, 8 consecutive per 8 lanes). h's rows (c·L) need not be
 * 4-byte aligned at odd L: 2-byte loads there, 4-byte pairs at even L (16 KiB a row). */
template <typename T> __device__ void filter8192(const HyenaFftFilterParams p) {
    HYENA_DYN_SHARED(float, sm);
    float *s_re = sm, *s_im = sm + 8192;
    __shared__ Fft8kTables tb;
    __shared__ Fwd8kTables ft;
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, w = threadIdx.x / 32;
    const uint64_t L = p.l;
    if (p.log2n != 14 || L <= 4096 || L > 8192) __trap();  // ops::fftconv::fftconv_filter's shapes only
    fft8k_tables(tb, w, lane, g, t);
    fwd8k_tables(ft);
    __syncthreads();  // the tables
    const unsigned l32 = (unsigned)L, channels = (unsigned)p.c;  // ops: C < 2^32
    const bool pairs = L % 2 == 0 && (p.h & 3) == 0;

    for (unsigned ch = blockIdx.x; ch < channels; ch += gridDim.x)
        filter8k_channel<T>(p.h, p.hf, ch, l32, pairs, tb, ft, s_re, s_im, w, lane, g, t);
}

/* One channel of the reduce (bwd_reduce8192; bwd8192 at B = 1, where the row's block is the
 * channel's): the tables published, the planes free; ends with the barrier after which they are. */
template <typename T>
__device__ __forceinline__ void reduce8k_channel(const HyenaFftConvBwdParams &p, const Fft8kTables &tb, const Conv8kTables *ct,
                                                 Fwd8kTables &ft, float *s_re, float *s_im, int w, int lane, int g, int t,
                                                 unsigned ch) {
    const unsigned l32 = (unsigned)p.l, bs = (unsigned)p.b;
    const float2 *ws = reinterpret_cast<const float2 *>(p.ws) + (uint64_t)ch * bs * 8193;
    float mx = 0.0f;
    auto put = [&](unsigned s, float re, float im) {
        s_re[s] = re;
        s_im[s] = im;
        mx = fmaxf(mx, fmaxf(fabsf(re), fabsf(im)));
    };
    fwd8k_each_pair(
        ft, w, lane, g, t,
        [&](unsigned so, unsigned sm_, unsigned ik, unsigned imk, float2 wk) {
            // W_k, W_{m−k}: the batch rows in order, the first peeled (B = 1, the paper's
            // setting: no loop; the loop rolled: unrolled, it doubled the kernel's code)
            float2 a = ws[ik], b = ws[imk];
#pragma unroll 1
            for (unsigned r = 1; r < bs; ++r) {
                const float2 x = ws[r * 8193u + ik];
                const float2 y = ws[r * 8193u + imk];
                a.x += x.x;
                a.y += x.y;
                b.x += y.x;
                b.y += y.y;
            }
            const float er = a.x + b.x, ei = a.y - b.y;  // W_k + conj W_{m−k}
            const float dr = a.x - b.x, di = a.y + b.y;  // W_k − conj W_{m−k}
            const float cr = wk.x * dr + wk.y * di, ci = wk.x * di - wk.y * dr;  // conj(w)·D
            put(sm_, er + wk.x * di - wk.y * dr, wk.x * dr + wk.y * di - ei);  // conj(E) + i·w·conj(D)
            put(so, er - ci, ei + cr);  // k = 0: the same slot, the same value
        },
        [&](unsigned s0, unsigned i0) {
            float2 a = ws[i0];
#pragma unroll 1
            for (unsigned r = 1; r < bs; ++r) {
                const float2 x = ws[r * 8193u + i0];
                a.x += x.x;
                a.y += x.y;
            }
            put(s0, 2.0f * a.x, -2.0f * a.y);
        });
    const unsigned ex = fwd8k_block_exponent(ft, w, lane, mx);
    // 2^e/n: the inverse stages give m·IDFT_m of twice the packed spectrum (n = 2^14; may be
    // subnormal); in shared, read at the output after the inverse's barrier (a register fewer)
    if (threadIdx.x == 0) ft.es = __uint_as_float((ex + 1u) << 23) * (1.0f / 16384.0f);
    conv8k_inverse(
        tb, ct, s_re, s_im, w, lane, g, t,
        [&](unsigned j, float re, float im) {
            const unsigned tt = 2 * fwd8k_opaque(j);
            const float os = ft.es;
            if (tt < l32) fwd8k_st2(reinterpret_cast<T *>(p.grad_h) + (uint64_t)fwd8k_opaque(ch) * l32 + tt, re * os, im * os);
        },
        __uint_as_float((253u - ex) << 23));
    if (threadIdx.x == 0) {
        const float *wd = reinterpret_cast<const float *>(p.ws_d) + (uint64_t)ch * bs;
        double sum = 0.0;
        for (unsigned r = 0; r < bs; ++r) sum += (double)wd[r];
        reinterpret_cast<T *>(p.grad_d)[ch] = from_f32<T>((float)sum);
    }
}

/* Where bwd8192<T, true> keeps the gradients wrt v and pre of the pair of points 2j, 2j + 1 (j <
 * 4096): s_re and s_im at ga_slot(j) (wrt v) and 4096 + ga_slot(j) (wrt pre), bits 3–4 of j XOR
 * bits 9–10. Its output calls store a warp's 32 pairs (j's bits 9–10 the lane's t, bits 0–2 its g)
 * to 32 banks, and bwd8k_shortconv's loads of 32 consecutive j (bits 9–10 fixed) read 32 banks: one
 * wavefront per request either way (linear, the t's 512 pairs apart took one bank). */
__device__ __forceinline__ unsigned ga_slot(unsigned j) { return j ^ (((j >> 9) & 3u) << 3); }

/* Warp sums of 4 or 8 values per lane by a reduce-scatter (fp32 sums in a fixed order: the same
 * bits every run): each xor step halves the values a lane holds and sends the other half, then the
 * last value's tree. bwd8k_warp_sums8: value v = (lane >> 2) & 7's sum in every lane with those
 * bits (returned in .x; 9 shuffles where a tree per value takes 40); bwd8k_warp_sums4: value (lane >> 3)
 * & 3's. Straight-line code: the estimate reads each line once per call (unrolled loops of these
 * were counted once per trip of their host loop). */
__device__ __forceinline__ float bwd8k_xor_keep(bool hi, float lo_v, float hi_v, int o) {
    const float keep = hi ? hi_v : lo_v;
    const float send = hi ? lo_v : hi_v;
    return keep + __shfl_xor_sync(0xffffffffu, send, o);
}
__device__ __forceinline__ float bwd8k_warp_sums4(int lane, float a0, float a1, float a2, float a3) {
    const bool h = lane & 16, q = lane & 8;
    const float b0 = bwd8k_xor_keep(h, a0, a2, 16);
    const float b1 = bwd8k_xor_keep(h, a1, a3, 16);
    float c = bwd8k_xor_keep(q, b0, b1, 8);
    c += __shfl_xor_sync(0xffffffffu, c, 4);
    c += __shfl_xor_sync(0xffffffffu, c, 2);
    c += __shfl_xor_sync(0xffffffffu, c, 1);
    return c;
}
__device__ __forceinline__ float2 bwd8k_warp_sums8(int lane, float a0, float a1, float a2, float a3, float a4, float a5, float a6, float a7) {
    const bool h = lane & 16, q = lane & 8, e = lane & 4;
    const float b0 = bwd8k_xor_keep(h, a0, a4, 16);
    const float b1 = bwd8k_xor_keep(h, a1, a5, 16);
    const float b2 = bwd8k_xor_keep(h, a2, a6, 16);
    const float b3 = bwd8k_xor_keep(h, a3, a7, 16);
    const float c0 = bwd8k_xor_keep(q, b0, b2, 8);
    const float c1 = bwd8k_xor_keep(q, b1, b3, 8);
    float d = bwd8k_xor_keep(e, c0, c1, 4);
    d += __shfl_xor_sync(0xffffffffu, d, 2);
    d += __shfl_xor_sync(0xffffffffu, d, 1);
    return make_float2(d, 0.0f);
}

/* The short conv's backward on one row of bwd8192<T, true> (after the row's inverse: the gradients
 * wrt v and pre in the planes, ga_slot), its three operands r (v, pre, post: hyena_shortconv of the
 * rows sc_z[r]) together: gr (wrt v, pre from the planes; wrt post grad_y ⊙ inner, bwd8192's
 * product; all in fp32, never stored), then hyena_shortconv_bwd's: grad_z[t] = w2·gr[t] + w1·gr[t+1]
 * + w0·gr[t+2] (terms past L absent) into grad_v / grad_pre / grad_post, the row's sums Σ gr·z[t−2+k]
 * (k = 0, 1, 2; z before the row 0) and Σ gr into sc_ws[r] (a thread's 16 points in fp32, fp64
 * after: a shuffle tree, then the warps in order; hyena_shortconv_bwd's accuracy with W = 16), and
 * gr at points 0 and 1 into sc_head[r] (the reduce's in_proj bias gradient); at B = 1 (sc_grad_w
 * given) the row's sums are the channel's gradients: written here as hyena_shortconv_bwd_reduce
 * would (no reduce launch). Thread x takes the pairs j = x + 512i (lane-consecutive 4-byte
 * accesses: 128 bytes per warp and tensor); the next pair's gr and the previous pair's z are the
 * neighbour lanes' (shuffles; lanes 31 and 0 form or read theirs). One barrier per row (red_sc:
 * rows of 17 doubles, so that threads 0–11's loads of one column take 24 banks). Global traffic per row: the three z rows read once, the three
 * gradients written once, grad_y and inner read again (L1/L2 and once). */
template <typename T>
__device__ __forceinline__ void bwd8k_shortconv(const HyenaFftConvBwdParams &p, const float *s_re, const float *s_im,
                                                double (*red_sc)[FFT8K_WARPS + 1], uint64_t off, unsigned row, int w, int lane) {
    const unsigned l32 = (unsigned)p.l, ch = row / (unsigned)p.b, bi = row - ch * (unsigned)p.b;
    const T *gy = reinterpret_cast<const T *>(p.grad_y) + off, *in = reinterpret_cast<const T *>(p.inner) + off;
    // gr of operands r0 .. r1 − 1 at the pair j (0 past L: L is even, a pair is in or out).
    auto gr_at = [&](unsigned j, float2 (&g)[3], int r0, int r1) {
        if (2 * j >= l32) {
#pragma unroll
            for (int r = 0; r < 3; ++r) g[r] = make_float2(0.0f, 0.0f);
            return;
        }
        const unsigned sj = ga_slot(j);
        if (r0 <= 0 && 0 < r1) g[0] = make_float2(s_re[sj], s_im[sj]);
        if (r0 <= 1 && 1 < r1) g[1] = make_float2(s_re[4096 + sj], s_im[4096 + sj]);
        if (r0 <= 2 && 2 < r1) {
            const float2 a = fwd8k_ld2(gy + 2 * j), x = fwd8k_ld2(in + 2 * j);
            g[2] = make_float2(a.x * x.x, a.y * x.y);
        }
    };
    // Operands R0 .. R1 − 1 in one pass over the row (two passes, v and pre from the planes, then
    // post: all three at once spilled at 64 registers), each pass's sums to red_sc. Every lane of a
    // warp runs the same trips (L even, the warp's pairs consecutive; lanes past L form zeros and
    // store nothing): the shuffles see all 32.
    auto pass = [&](auto r0, auto r1) {
        constexpr int R0 = decltype(r0)::value, R1 = decltype(r1)::value;
        float wt[3][3], f[3][4];  // per operand: its weights; Σ gr·z[t−2], Σ gr·z[t−1], Σ gr·z[t], Σ gr
#pragma unroll
        for (int r = R0; r < R1; ++r) {
#pragma unroll
            for (int k = 0; k < 3; ++k) wt[r][k] = to_f32<T>(reinterpret_cast<const T *>(p.sc_w[r])[3 * (uint64_t)ch + k]);
#pragma unroll
            for (int k = 0; k < 4; ++k) f[r][k] = 0.0f;
        }
#pragma unroll 1
        for (unsigned j = threadIdx.x; 64u * (j / 32u) < l32; j += 32 * FFT8K_WARPS) {
            float2 g01[3], g23[3], zc[3], zp[3];
            gr_at(j, g01, R0, R1);
            const bool in_row = 2 * j < l32;
#pragma unroll
            for (int r = R0; r < R1; ++r) {
                g23[r] = make_float2(__shfl_down_sync(0xffffffffu, g01[r].x, 1), __shfl_down_sync(0xffffffffu, g01[r].y, 1));
                zc[r] = in_row ? fwd8k_ld2(reinterpret_cast<const T *>(p.sc_z[r]) + off + 2 * j) : make_float2(0.0f, 0.0f);
                zp[r] = make_float2(__shfl_up_sync(0xffffffffu, zc[r].x, 1), __shfl_up_sync(0xffffffffu, zc[r].y, 1));
            }
            if (lane == 31) gr_at(j + 1, g23, R0, R1);
            if (lane == 0) {
#pragma unroll
                for (int r = R0; r < R1; ++r) zp[r] = j > 0 ? fwd8k_ld2(reinterpret_cast<const T *>(p.sc_z[r]) + off + 2 * j - 2) : make_float2(0.0f, 0.0f);
            }
            if (!in_row) continue;
#pragma unroll
            for (int r = R0; r < R1; ++r) {
                const float w0 = wt[r][0], w1 = wt[r][1], w2 = wt[r][2];
                T *gz = reinterpret_cast<T *>(r == 0 ? p.grad_v : r == 1 ? p.grad_pre : p.grad_post) + off;
                fwd8k_st2(gz + 2 * j, w2 * g01[r].x + w1 * g01[r].y + w0 * g23[r].x, w2 * g01[r].y + w1 * g23[r].x + w0 * g23[r].y);
                f[r][2] = fmaf(g01[r].y, zc[r].y, fmaf(g01[r].x, zc[r].x, f[r][2]));
                f[r][1] = fmaf(g01[r].y, zc[r].x, fmaf(g01[r].x, zp[r].y, f[r][1]));
                f[r][0] = fmaf(g01[r].y, zp[r].y, fmaf(g01[r].x, zp[r].x, f[r][0]));
                f[r][3] += g01[r].x + g01[r].y;
            }
        }
        // The pass's 4(R1 − R0) sums over the warp: a reduce-scatter (bwd8k_warp_sums).
        if constexpr (R1 - R0 == 2) {
            const float2 v = bwd8k_warp_sums8(lane, f[R0][0], f[R0][1], f[R0][2], f[R0][3], f[R0 + 1][0], f[R0 + 1][1], f[R0 + 1][2], f[R0 + 1][3]);
            if ((lane & 3) == 0) red_sc[4 * R0 + (lane >> 2)][w] = (double)v.x;
        } else {
            const float v = bwd8k_warp_sums4(lane, f[R0][0], f[R0][1], f[R0][2], f[R0][3]);
            if ((lane & 7) == 0) red_sc[4 * R0 + (lane >> 3)][w] = (double)v;
        }
    };
    pass(std::integral_constant<int, 0>{}, std::integral_constant<int, 2>{});
    pass(std::integral_constant<int, 2>{}, std::integral_constant<int, 3>{});
    if (threadIdx.x == 0) {
        float2 g[3];
        gr_at(0, g, 0, 3);
#pragma unroll
        for (int r = 0; r < 3; ++r) reinterpret_cast<float2 *>(p.sc_head[r])[(uint64_t)bi * p.c + ch] = g[r];
    }
    __syncthreads();  // the warps' sums, and thread 0's heads (global, read below at B = 1)
    if (threadIdx.x < 12) {
        const unsigned r = threadIdx.x / 4, k = threadIdx.x % 4;
        double sum = 0.0;
        for (int i = 0; i < FFT8K_WARPS; ++i) sum += red_sc[threadIdx.x][i];
        const uint64_t gw = r == 0 ? p.sc_grad_w[0] : r == 1 ? p.sc_grad_w[1] : p.sc_grad_w[2];
        if (!gw) {
            double *ws = reinterpret_cast<double *>(r == 0 ? p.sc_ws[0] : r == 1 ? p.sc_ws[1] : p.sc_ws[2]);
            ws[((uint64_t)bi * 4 + k) * p.c + ch] = sum;
            return;
        }
        // B = 1: the row's sums are its channel's gradients (hyena_shortconv_bwd_reduce's
        // arithmetic on one partial: the same bits), written here with no reduce launch.
        if (k < 3) {
            reinterpret_cast<T *>(gw)[3 * (uint64_t)ch + k] = from_f32<T>((float)sum);
            return;
        }
        reinterpret_cast<T *>(r == 0 ? p.sc_grad_b[0] : r == 1 ? p.sc_grad_b[1] : p.sc_grad_b[2])[ch] = from_f32<T>((float)sum);
        const uint64_t gib = r == 0 ? p.sc_grad_in_bias[0] : r == 1 ? p.sc_grad_in_bias[1] : p.sc_grad_in_bias[2];
        if (gib) {
            const T *wt = reinterpret_cast<const T *>(r == 0 ? p.sc_w[0] : r == 1 ? p.sc_w[1] : p.sc_w[2]) + 3 * (uint64_t)ch;
            const float2 h = reinterpret_cast<const float2 *>(r == 0 ? p.sc_head[0] : r == 1 ? p.sc_head[1] : p.sc_head[2])[ch];
            const double w0 = to_f32<T>(wt[0]), w1 = to_f32<T>(wt[1]), w2 = to_f32<T>(wt[2]);
            const double g0 = h.x, g1 = h.y;
            reinterpret_cast<T *>(gib)[ch] = from_f32<T>((float)((w0 + w1 + w2) * sum - (w0 + w1) * g0 - w0 * g1));
        }
    }
}

/* ---- The fused gated convolution's backward at 4K < L ≤ 8K on tensor cores ---------------------
 *
 * hyena_fftconv_bwd_g_tc_m13_{bf16,f16} (HyenaFftConvBwdParams, log2n = 14, 4096 < L ≤ 8192, L
 * even, every tensor 4-byte aligned; aspec (the forward's A in the four-step order), post, inner
 * and grad_post given: ops::fftconv::bwd_tensor_cores): what hyena_fftconv_bwd_g_2b_m13_* computes
 * given aspec, on conv8k_row as fwd8192:
 *   - g = grad_y ⊙ post at the row's power of two (the row's largest |g| to [1/2, 1), as a there);
 *   - per bin pair (bwd8k_pair_at): G = rFFT(g) split from the pair (× 2^-e: true scale), ws =
 *     G·conj(A) at the row's index c·B + b, in the four-step order (8 consecutive bins per 8
 *     lanes, A read the same way; the reduce below reads it so), and the forward's product with
 *     conj H in place of H: the inverse is the correlation g ⋆ h = grad of a through the
 *     convolution (n ≥ 2L: no wrap in the first L points);
 *   - at the output: grad_a = that × 2^-e + D·g, grad_v = grad_a ⊙ pre, grad_pre = grad_a ⊙ v,
 *     grad_post = grad_y ⊙ inner (bwd_out_g's products, in its order), and the row's Σ g·a in fp64
 *     (exact products, a fixed shuffle order, then the warps' sums in order by thread 0) to
 *     ws_d[c·B + b], one more barrier per row;
 *   - at B = 1 (the paper's setting) the reduce's work on the row's channel right after the row
 *     (reduce8k_channel: ws read back from the L2, no reduce launch; 3 barriers more per row).
 * Global traffic per row: v, pre, post, grad_y, inner read once at the output (4-byte pairs;
 * grad_y and post twice: the row's power of two and the operands, the second from L1/L2, and
 * again at the output from L2), grad_v, grad_pre, grad_post written once, A read and ws written
 * once (8 bytes per bin each), hf read (the channel's, shared by its batch rows through L2).
 *
 * SC (hyena_fftconv_bwd_g_sc_tc_m13_*, the device operator at order 2, where v, pre and post are
 * the short conv's outputs of the rows sc_z): the short conv's backward in the same block. The
 * output writes the gradients wrt v and pre to the planes (ga_slot; one barrier before, after the
 * inverse's last reads of them) instead of storing them, and grad_post is not stored either;
 * bwd8k_shortconv then forms the gradients wrt the short conv's inputs (grad_v, grad_pre,
 * grad_post hold those) and the row's weight and bias sums (one barrier): at B > 1 for
 * hyena_shortconv_bwd_reduce_*, at B = 1 the channel's gradients, written here (no reduce). Per
 * row 2 barriers and the three z rows' reads more, the three operand gradients' stores and reads
 * back (hyena_shortconv_bwd's) fewer. */
template <typename T, bool SC> __device__ void bwd8192(const HyenaFftConvBwdParams p) {
    HYENA_DYN_SHARED(float, sm);
    float *s_re = sm, *s_im = sm + 8192;
    __shared__ Fft8kTables tb;
    __shared__ Conv8kTables ct;
    __shared__ Fwd8kTables ft;
    __shared__ double red[FFT8K_WARPS];
    __shared__ uint64_t row_off;  // the row's offset in the [B, C, L] tensors, read at the output
    __shared__ float row_d;       // its channel's D
    __shared__ double red_sc[SC ? 12 : 1][FFT8K_WARPS + 1];  // SC: the short conv's sums (bwd8k_shortconv)
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, w = threadIdx.x / 32;
    const uint64_t L = p.l;
    // ops::fftconv::bwd_tensor_cores' shapes only (fwd8192's, and the forward's spectrum, inner and
    // a post gate given; absent pre/grad_pre are 0, aligned); SC: pre and the short conv's rows too.
    if (p.log2n != 14 || L <= 4096 || L > 8192 || L % 2 || !p.aspec || !p.post || !p.inner || !p.grad_post ||
        ((p.v | p.pre | p.post | p.grad_y | p.inner | p.grad_v | p.grad_pre | p.grad_post | p.grad_h) & 3) ||
        (SC && (!p.pre || !p.sc_z[0] || !p.sc_z[1] || !p.sc_z[2] || ((p.sc_z[0] | p.sc_z[1] | p.sc_z[2]) & 3))))
        __trap();
    fft8k_tables(tb, w, lane, g, t);
    conv8k_tables(ct);
    fwd8k_tables(ft);
    __syncthreads();  // the tables
    const unsigned l32 = (unsigned)L, rows = (unsigned)(p.b * p.c);  // bwd_tensor_cores: B·C·(m + 1) < 2^32

    for (unsigned row = blockIdx.x; row < rows; row += gridDim.x) {
        const unsigned ch = row / (unsigned)p.b, bi = row - ch * (unsigned)p.b;
        const uint64_t off = ((uint64_t)bi * p.c + ch) * L;
        const T *gy = reinterpret_cast<const T *>(p.grad_y) + off;
        const T *po = reinterpret_cast<const T *>(p.post) + off;
        // g = grad_y ⊙ post at the lane's points, read twice as fwd8192's a (zero past L).
        auto g_at = [&](unsigned lb, int r, int h) {
            const unsigned tt = 2 * (lb + 256 * (h + 8 * (r / 2)) + 8 * (r % 2)), at = min(tt, l32 - 2);
            const float2 x = fwd8k_ld2(gy + at), q = fwd8k_ld2(po + at);
            const float in = tt < l32 ? 1.0f : 0.0f;
            return make_float2(x.x * q.x * in, x.y * q.y * in);
        };
        if (threadIdx.x == 0) {  // read at the output (formed there, a division by B per call)
            row_off = off;
            row_d = to_f32<T>(reinterpret_cast<const T *>(p.d)[ch]);
        }
        const unsigned ex = fwd8k_row_exponent(ft, w, lane, g, t, g_at);
        if (threadIdx.x == 0) ft.es = __uint_as_float((ex + 1u) << 23);  // 2^-e, read after stage 1's barrier
        double gd = 0.0;
        conv8k_row<true, SC>(
            tb, &ct, s_re, s_im, w, lane, g, t, fwd8k_loader(w, g, t, __uint_as_float((253u - ex) << 23), g_at),
            [&] {
                const float es = ft.es;
                const unsigned r = fwd8k_opaque(row);
                const float2 *hf = reinterpret_cast<const float2 *>(p.hf) + (uint64_t)(r / (unsigned)p.b) * 8193;
                const float2 *as = reinterpret_cast<const float2 *>(p.aspec) + (uint64_t)r * 8193;
                float2 *ws = reinterpret_cast<float2 *>(p.ws) + (uint64_t)r * 8193;
                // two pairs at a time (fwd8k_each_pair): four spilled 12–16 B with the reduce below
                fwd8k_each_pair<2>(
                    ft, w, lane, g, t,
                    [&](unsigned so, unsigned sm_, unsigned ik, unsigned imk, float2 wk) {
                        bwd8k_pair_at(s_re, s_im, so, sm_, hf + ik, hf + imk, as + ik, as + imk, ws + ik, ws + imk, wk, es);
                    },
                    [&](unsigned s0, unsigned i0) {
                        // Bin m/2, its own mirror: G = conj Z (× 2^-e), the product 2·H·Z (the
                        // forward's 2·conj(H)·Z with conj H).
                        const float zr = s_re[s0];
                        const float zi = s_im[s0];
                        const float2 hh = hf[i0];
                        const float2 a = as[i0];
                        const float gr = zr * es, gi = -zi * es;
                        ws[i0] = make_float2(gr * a.x + gi * a.y, gi * a.x - gr * a.y);
                        s_re[s0] = 2.0f * (hh.x * zr - hh.y * zi);
                        s_im[s0] = 2.0f * (hh.x * zi + hh.y * zr);
                    });
            },
            [&](unsigned j, float re, float im) {
                const unsigned tt = 2 * fwd8k_opaque(j);
                if (tt >= l32) return;
                // The row's offset and D from shared (not held across the FFT: 64 registers).
                const uint64_t o = row_off + tt;
                const float2 x = fwd8k_ld2(reinterpret_cast<const T *>(p.v) + o);
                const float2 gp = p.pre ? fwd8k_ld2(reinterpret_cast<const T *>(p.pre) + o) : make_float2(1.0f, 1.0f);
                const float2 y = fwd8k_ld2(reinterpret_cast<const T *>(p.grad_y) + o);
                const float2 q = fwd8k_ld2(reinterpret_cast<const T *>(p.post) + o);
                const float dd = row_d, es = ft.es;
                const float g0 = y.x * q.x, g1 = y.y * q.y;
                gd = fma((double)g0, (double)(x.x * gp.x), gd);
                gd = fma((double)g1, (double)(x.y * gp.y), gd);
                const float ga0 = re * es + dd * g0, ga1 = im * es + dd * g1;
                if constexpr (SC) {
                    // The gradients wrt v and pre to the planes (conv8k_inverse<true> read them all
                    // before this); the short conv's backward below takes them from there.
                    const unsigned sj = ga_slot(tt / 2);
                    s_re[sj] = ga0 * gp.x;
                    s_im[sj] = ga1 * gp.y;
                    s_re[4096 + sj] = ga0 * x.x;
                    s_im[4096 + sj] = ga1 * x.y;
                } else {
                    const float2 z = fwd8k_ld2(reinterpret_cast<const T *>(p.inner) + o);
                    fwd8k_st2(reinterpret_cast<T *>(p.grad_v) + o, ga0 * gp.x, ga1 * gp.y);
                    if (p.grad_pre) fwd8k_st2(reinterpret_cast<T *>(p.grad_pre) + o, ga0 * x.x, ga1 * x.y);
                    fwd8k_st2(reinterpret_cast<T *>(p.grad_post) + o, z.x * y.x, z.y * y.y);
                }
            });
        // The row's Σ g·a (conv8k_row ended with a barrier; red is next written a row later).
        for (int o = 16; o > 0; o /= 2) gd += __shfl_down_sync(0xffffffffu, gd, o);
        if (lane == 0) red[w] = gd;
        __syncthreads();
        if (threadIdx.x == 0) {
            double sum = 0.0;
            for (int j = 0; j < FFT8K_WARPS; ++j) sum += red[j];
            reinterpret_cast<float *>(p.ws_d)[row] = (float)sum;
        }
        if constexpr (SC) bwd8k_shortconv<T>(p, s_re, s_im, red_sc, row_off, row, w, lane);
        // B = 1 (the paper's setting): the row is its channel's only one, so this block reduces it
        // now, the row's ws from the L2 (its stores visible to the block after the barrier above;
        // thread 0 reads ws_d after writing it): no reduce launch, no second DRAM read of ws.
        if (p.b == 1) reduce8k_channel<T>(p, tb, &ct, ft, s_re, s_im, w, lane, g, t, fwd8k_opaque(row));
    }
}

/* ---- The backward's reduce over the batch at 4K < L ≤ 8K on tensor cores -----------------------
 *
 * hyena_fftconv_bwd_reduce_tc_m13_{bf16,f16} (HyenaFftConvBwdParams, after bwd_g_tc_m13 at B > 1;
 * grad_h 4-byte aligned): per channel c (reduce8k_channel, which bwd8192 runs itself at B = 1), grad_h = IRFFT_n(Σ_b ws[c·B + b])/n, the first L points, and
 * grad_D = Σ_b ws_d[c·B + b] (fp64, rounded once; bwd_reduce's). The spectrum's sum is in fp32, b
 * in order (deterministic; its rounding, B·2^-24, is far below the f16 operands' 2^-11), each pair
 * of bins k, m − k folded to the packed spectrum the inverse stages take (Z'_k = (W_k + conj
 * W_{m−k}) + i·conj(w^k)·(W_k − conj W_{m−k}), Z'_{m−k} = (W_{m−k} + conj W_k) − i·w^k·(W_{m−k} −
 * conj W_k), Z'_{m/2} = 2·conj W_{m/2}: twice the packed row's spectrum, as the forward's pair
 * gives) into the warp's own columns (fwd8k_each_pair), then the channel's power of two (its
 * largest |Z'| to [1/2, 1): the sum has any magnitude, the f16 operands need their range; one
 * barrier) applied where the values become operands (conv8k_inverse's sc), and conv8k_inverse;
 * the output × 2^e/n. Global traffic per channel: ws read once (8 bytes per bin and batch row,
 * 8 consecutive bins per 8 lanes), grad_h written once. */
template <typename T> __device__ void bwd_reduce8192(const HyenaFftConvBwdParams p) {
    HYENA_DYN_SHARED(float, sm);
    float *s_re = sm, *s_im = sm + 8192;
    __shared__ Fft8kTables tb;
    __shared__ Conv8kTables ct;
    __shared__ Fwd8kTables ft;
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, w = threadIdx.x / 32;
    const uint64_t L = p.l;
    if (p.log2n != 14 || L <= 4096 || L > 8192 || L % 2 || (p.grad_h & 3)) __trap();  // bwd_tensor_cores' shapes only
    fft8k_tables(tb, w, lane, g, t);
    conv8k_tables(ct);
    fwd8k_tables(ft);
    __syncthreads();  // the tables
    for (unsigned ch = blockIdx.x; ch < (unsigned)p.c; ch += gridDim.x)
        reduce8k_channel<T>(p, tb, &ct, ft, s_re, s_im, w, lane, g, t, fwd8k_opaque(ch));
}

}  // namespace tcdft
}  // namespace hyena

extern "C" __global__ void __launch_bounds__(128) hyena_tc_dft256_f32(const HyenaTcDftParams p) {
    if (p.split)
        hyena::tcdft::dft256<true>(p);
    else
        hyena::tcdft::dft256<false>(p);
}
/* f16 operands (f32 data, as the kernel above): a kernel of its own, so that its SASS and the
 * simulator's line counts join apart from the tf32 instances' (one kernel with three arms put the
 * model's estimate of the 3xTF32 arm at 177 M instead of 32.5 M warp-instructions). p.split unused. */
extern "C" __global__ void __launch_bounds__(128) hyena_tc_dft256_f16mma_f32(const HyenaTcDftParams p) {
    hyena::tcdft::dft256_f16(p);
}
CUDASIM_UNIFORM_BLOCKS(hyena_tc_dft256_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_tc_dft256_f16mma_f32);
/* The 8192-point FFT (prototype, above): one block of 16 warps per row, 64 KiB of dynamic shared
 * memory, two blocks per SM (64 registers); p.x, p.y: [batch][8192][2] f32, y in the four-step
 * order; p.split unused. */
extern "C" __global__ void __launch_bounds__(512, 2) hyena_tc_fft8192_f16mma_f32(const HyenaTcDftParams p) {
    hyena::tcdft::fft8192_f16(p);
}
CUDASIM_UNIFORM_BLOCKS(hyena_tc_fft8192_f16mma_f32);
/* The causal convolution of 8192-point real rows (prototype, above): one block of 16 warps per
 * row, 64 KiB of dynamic shared memory; p.a, p.s: [rows][8192] f32, p.coef: [channels][8192][4]
 * f16, p.scale: [channels] f32. */
extern "C" __global__ void __launch_bounds__(512, 2) hyena_tc_conv8192_f16mma_f32(const HyenaTcConvParams p) {
    hyena::tcdft::conv8192_f16(p);
}
CUDASIM_UNIFORM_BLOCKS(hyena_tc_conv8192_f16mma_f32);
/* The fused gated forward at 4K < L ≤ 8K on tensor cores (above; ops::fftconv picks it): one block
 * of 16 warps per row at a time, rows looped, 64 KiB of dynamic shared memory, two blocks per SM. */
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_fwd_tc_m13_bf16(const HyenaFftConvFwdParams p) {
    hyena::tcdft::fwd8192<__nv_bfloat16, false>(p);
}
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_fwd_tc_m13_f16(const HyenaFftConvFwdParams p) {
    hyena::tcdft::fwd8192<__half, false>(p);
}
/* The same with the short conv fused (fwd8192<T, true>; the device operator at order 2, every
 * operand a short conv's output): reads the short conv's input rows sc_z, writes its outputs to v,
 * pre, post and reads them back; with h given (B = 1) each row's block first forms its channel's
 * spectrum into hf (filter8k_channel) and reads it back. */
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_fwd_sc_tc_m13_bf16(const HyenaFftConvFwdScParams p) {
    hyena::tcdft::fwd8192<__nv_bfloat16, true>(p);
}
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_fwd_sc_tc_m13_f16(const HyenaFftConvFwdScParams p) {
    hyena::tcdft::fwd8192<__half, true>(p);
}
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_tc_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_tc_m13_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_sc_tc_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_fwd_sc_tc_m13_f16);
/* The filter's spectrum at 4K < L ≤ 8K on tensor cores (above; ops::fftconv::fftconv_filter picks
 * it in 2-byte storage): one block of 16 warps per channel at a time, 64 KiB of dynamic shared
 * memory. */
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_filter_tc_m13_bf16(const HyenaFftFilterParams p) {
    hyena::tcdft::filter8192<__nv_bfloat16>(p);
}
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_filter_tc_m13_f16(const HyenaFftFilterParams p) {
    hyena::tcdft::filter8192<__half>(p);
}
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_filter_tc_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_filter_tc_m13_f16);
/* The fused gated backward at 4K < L ≤ 8K on tensor cores (above; ops::fftconv picks it given the
 * forward's spectrum): the G kernel, one block of 16 warps per row at a time, then (B > 1) the
 * reduce, one per channel at a time (at B = 1 the G kernel reduces each row's channel itself); 64
 * KiB of dynamic shared memory each, two blocks per SM. */
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_bwd_g_tc_m13_bf16(const HyenaFftConvBwdParams p) {
    hyena::tcdft::bwd8192<__nv_bfloat16, false>(p);
}
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_bwd_g_tc_m13_f16(const HyenaFftConvBwdParams p) {
    hyena::tcdft::bwd8192<__half, false>(p);
}
/* The same with the short conv's backward fused (bwd8k_shortconv; the device operator at order 2,
 * every operand a short conv's output): grad_v, grad_pre, grad_post are the short conv inputs'
 * gradients; hyena_shortconv_bwd_reduce_* then reads sc_ws and sc_head. */
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_bwd_g_sc_tc_m13_bf16(const HyenaFftConvBwdParams p) {
    hyena::tcdft::bwd8192<__nv_bfloat16, true>(p);
}
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_bwd_g_sc_tc_m13_f16(const HyenaFftConvBwdParams p) {
    hyena::tcdft::bwd8192<__half, true>(p);
}
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_bwd_reduce_tc_m13_bf16(const HyenaFftConvBwdParams p) {
    hyena::tcdft::bwd_reduce8192<__nv_bfloat16>(p);
}
extern "C" __global__ void __launch_bounds__(512, 2) hyena_fftconv_bwd_reduce_tc_m13_f16(const HyenaFftConvBwdParams p) {
    hyena::tcdft::bwd_reduce8192<__half>(p);
}
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_tc_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_tc_m13_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_sc_tc_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_g_sc_tc_m13_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_tc_m13_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_fftconv_bwd_reduce_tc_m13_f16);
