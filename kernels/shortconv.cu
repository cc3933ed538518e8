// shortconv.cu: short causal depthwise convolution (3 taps) + bias, forward and backward, with the
// in_proj bias optionally folded into its input, over K stacked chunks in one launch.
//
//   z[t]      = x[t] + bin[c] for 0 <= t < L, 0 outside (x = in_proj's W·u without its bias: the
//               causal zero padding stays unbiased, as PyTorch's Linear -> Conv1d(padding=2)[..., :L])
//   forward:  y[t]      = w[c,0]*z[t-2] + w[c,1]*z[t-1] + w[c,2]*z[t] + bias[c]
//   backward: gx[t]     = w[c,2]*gy[t] + w[c,1]*gy[t+1] + w[c,0]*gy[t+2]         (gy[>=L] = 0)
//             gw[c,k]   = sum_{b,t} gy[b,c,t] * z[b,c,t-2+k],  gb[c] = sum_{b,t} gy[b,c,t]
//   (gx is the gradient wrt z and wrt x alike; the in_proj bias gradient is its sum over b, t.)
//
// Layout: x, y, gy, gx as [K, B, C, L] (contiguous; K chunks of [B, C, L], the device operator's
// in_proj output), w as [K*C, 3], bias and bin as [K*C]. Chunk k, batch b, channel c is row
// (k*B + b)*C + c and uses channel k*C + c of w, bias, bin. bin may be absent (0). Storage T in
// {float, bf16, fp16}; arithmetic in fp32, one rounding to T per output.
//
// Geometry (both kernels): grid (segs, C, B), block of 32..256 threads (a multiple of 32); block
// (s, c, b) covers positions [s*S, (s+1)*S) of the K rows of (b, c), one chunk after the other,
// S = blockDim.x * W, W = 16 / sizeof(T): each thread owns W consecutive positions. Rows and
// channels come from blockIdx by multiplication: no division anywhere. When the row length is a multiple of W and the
// pointers are 16-byte aligned (uniform over the launch), a thread moves its W elements with one
// 16-byte load and one 16-byte store; otherwise element by element. The 2 neighbours a thread needs
// beyond its own W come from the next lane over by a warp shuffle (lane 0 / 31 reads them itself),
// so every input byte is requested once per warp.
//
// Cost (N = K*B*C*L; bf16): forward reads x and writes y once, 4 N bytes; backward reads x and gy
// and writes gx once, 6 N bytes; memory-bound.
//
// Backward design (deterministic, no float atomics): `hyena_shortconv_bwd_*` (each thread
// HYENA_SHORTCONV_BWD_VECS vectors of W positions per chunk, blockDim.x * W apart) writes gx and
// reduces its block's 4 parameter sums in a fixed order (each thread over its positions, then a
// warp shuffle tree, then the warps in order) into ws[(((k*B + b)*segs + s)*4 + j)*C + c] (fp64,
// channel fastest: the reduce's threads, one per channel, read consecutive words). Then
// `hyena_shortconv_bwd_reduce_*` (one thread per channel k*C + c) sums the B*segs partials in order
// (b, then s) and writes gw [K*C, 3] and gb [K*C] (overwritten, not accumulated), and, when asked,
// in_proj's bias gradient Σ_b Σ_t gx from gb's fp64 sum and gy's first two positions (no pass over
// gx: bwd_reduce; from gy_head when given: the 8K tensor-core backward with this backward fused
// in, hyena_fftconv_bwd_g_sc_tc_m13_*, writes ws at segs = 1 and those heads, and stores no gy).
// Same inputs -> same bits.
//
// Accuracy: the parameter gradients sum B·L terms. Each thread sums the W products of one vector
// in fp32 (at most W roundings, u = 2^-24 relative to their magnitudes, ~5e-7 for W = 8); everything
// after that (a thread's vectors, the trees, the batch and segment sums) is fp64: 2^20 fp64
// additions err by < 2^-33 of the sum of magnitudes, so each gradient is within ~W·u of the sum of
// its terms' magnitudes before its final rounding to T (the f32 conformance bound is 1e-5).
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include "common.cuh"
#include "hyena_params.h"

namespace hyena_shortconv {

using hyena::to_f32;
using hyena::from_f32;

// W = 16 bytes of T: one thread's positions, moved with one vector access when aligned.
template <typename T> struct alignas(16) Pack {
    static const int W = 16 / (int)sizeof(T);
    T v[16 / sizeof(T)];
};

__device__ inline bool aligned16(uint64_t addr) { return (addr & 15u) == 0; }

#define HYENA_SHORTCONV_FULL_MASK 0xffffffffu
// Most warps of a block (the backward's cross-warp step); the wrapper's blocks have at most 256
// threads.
#define HYENA_SHORTCONV_MAX_WARPS 8
// 16-byte vectors per thread and chunk in the backward (more positions per block to share the
// cost of the block's reduction trees); the forward has 1. ops/shortconv.rs has the same number.
#define HYENA_SHORTCONV_BWD_VECS 4

// v[k] = z[t0 + k] for k < W (0 at and past L), x read as one Pack when `vec`.
template <typename T> __device__ inline void load_own(const T* __restrict__ r, uint32_t t0, uint32_t L, bool vec, float bin, float* v) {
    const int W = Pack<T>::W;
    if (vec) {
        if (t0 < L) {
            const Pack<T> q = reinterpret_cast<const Pack<T>*>(r)[t0 / W];
#pragma unroll
            for (int k = 0; k < W; ++k) v[k] = to_f32<T>(q.v[k]) + bin;
        } else {
#pragma unroll
            for (int k = 0; k < W; ++k) v[k] = 0.0f;
        }
    } else {
#pragma unroll
        for (int k = 0; k < W; ++k) v[k] = t0 + k < L ? to_f32<T>(r[t0 + k]) + bin : 0.0f;
    }
}

// z[t0 - 2], z[t0 - 1] (0 before the row): from the previous lane's last two, or read by lane 0.
template <typename T> __device__ inline void halo_before(const T* __restrict__ r, uint32_t t0, uint32_t L, float bin, const float* v, float& h0, float& h1) {
    const int W = Pack<T>::W;
    h0 = __shfl_up_sync(HYENA_SHORTCONV_FULL_MASK, v[W - 2], 1);
    h1 = __shfl_up_sync(HYENA_SHORTCONV_FULL_MASK, v[W - 1], 1);
    if ((threadIdx.x & 31u) == 0 && t0 < L) {
        h0 = t0 >= 2 ? to_f32<T>(r[t0 - 2]) + bin : 0.0f;
        h1 = t0 >= 1 ? to_f32<T>(r[t0 - 1]) + bin : 0.0f;
    }
}

template <typename T> __device__ inline void store_own(T* __restrict__ r, uint32_t t0, uint32_t L, bool vec, const float* o) {
    const int W = Pack<T>::W;
    if (vec) {
        Pack<T> q;
#pragma unroll
        for (int k = 0; k < W; ++k) q.v[k] = from_f32<T>(o[k]);
        // Indexed in Pack units: `*(Pack*)(r + t0)` let nvcc split the backward's store into
        // 2-byte pieces (the address merged with the element path's); this form stays one STG.128.
        reinterpret_cast<Pack<T>*>(r)[t0 / W] = q;
    } else {
#pragma unroll
        for (int k = 0; k < W; ++k)
            if (t0 + k < L) r[t0 + k] = from_f32<T>(o[k]);
    }
}

// Block (s, c, b) covers positions [s*S, (s+1)*S) of rows (k*B + b)*C + c for k = 0..K-1, one
// chunk after the other: row and channel by multiplication, no division. L < 2^31 (the wrapper
// checks), so positions are 32-bit.
__device__ inline uint32_t first_position(int w) { return (blockIdx.x * blockDim.x + threadIdx.x) * (uint32_t)w; }

template <typename T> __device__ inline void fwd(const HyenaShortConvParams p) {
    const int W = Pack<T>::W;
    const T* __restrict__ w = reinterpret_cast<const T*>(p.w);
    const T* __restrict__ bias_p = reinterpret_cast<const T*>(p.bias);
    const T* __restrict__ bin_p = reinterpret_cast<const T*>(p.in_bias);
    const uint32_t L = (uint32_t)p.l;
    const uint64_t C = p.c, B = p.b, c = blockIdx.y, b = blockIdx.z;
    const uint32_t t0 = first_position(W);
    const bool vec = L % W == 0 && aligned16(p.x) && aligned16(p.y);
    for (uint64_t k = 0; k < p.k; ++k) {
        const uint64_t wc = k * C + c, row = (k * B + b) * C + c;
        const T* __restrict__ xr = reinterpret_cast<const T*>(p.x) + row * L;
        T* __restrict__ yr = reinterpret_cast<T*>(p.y) + row * L;
        const float w0 = to_f32<T>(w[3 * wc]), w1 = to_f32<T>(w[3 * wc + 1]), w2 = to_f32<T>(w[3 * wc + 2]);
        const float4 wb = make_float4(w0, w1, w2, to_f32<T>(bias_p[wc]));
        const float bin = bin_p ? to_f32<T>(bin_p[wc]) : 0.0f;
        float z[W + 2];  // z[j] = z(t0 - 2 + j)
        load_own<T>(xr, t0, L, vec, bin, z + 2);
        halo_before<T>(xr, t0, L, bin, z + 2, z[0], z[1]);
        if (t0 < L) {
            float o[W];
#pragma unroll
            for (int j = 0; j < W; ++j) o[j] = hyena::shortconv_point(wb, z[j], z[j + 1], z[j + 2]);
            store_own<T>(yr, t0, L, vec, o);
        }
    }
}

template <typename T> __device__ inline void bwd_rows(const HyenaShortConvBwdParams p) {
    const int W = Pack<T>::W;
    // Per chunk parity (one barrier per chunk suffices): [parity][sum][warp].
    __shared__ double red[2][4][HYENA_SHORTCONV_MAX_WARPS];
    const T* __restrict__ w = reinterpret_cast<const T*>(p.w);
    const T* __restrict__ bin_p = reinterpret_cast<const T*>(p.in_bias);
    const uint32_t L = (uint32_t)p.l;
    const uint64_t C = p.c, B = p.b, c = blockIdx.y, b = blockIdx.z;
    // This thread's first position; its HYENA_SHORTCONV_BWD_VECS vectors are blockDim.x * W apart.
    const uint32_t t00 = (blockIdx.x * HYENA_SHORTCONV_BWD_VECS * blockDim.x + threadIdx.x) * (uint32_t)W;
    const bool vec = L % W == 0 && aligned16(p.x) && aligned16(p.grad_y) && aligned16(p.grad_x);
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x / 32u;
    for (uint64_t k = 0; k < p.k; ++k) {
        const uint64_t wc = k * C + c, row = (k * B + b) * C + c;
        const T* __restrict__ xr = reinterpret_cast<const T*>(p.x) + row * L;
        const T* __restrict__ gr = reinterpret_cast<const T*>(p.grad_y) + row * L;
        T* __restrict__ gxr = reinterpret_cast<T*>(p.grad_x) + row * L;
        const float w0 = to_f32<T>(w[3 * wc]), w1 = to_f32<T>(w[3 * wc + 1]), w2 = to_f32<T>(w[3 * wc + 2]);
        const float bin = bin_p ? to_f32<T>(bin_p[wc]) : 0.0f;
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, sb = 0.0;
        for (uint32_t v = 0; v < HYENA_SHORTCONV_BWD_VECS; ++v) {
            const uint32_t t0 = t00 + v * blockDim.x * (uint32_t)W;
            float z[W + 2];  // z[j] = z(t0 - 2 + j)
            load_own<T>(xr, t0, L, vec, bin, z + 2);
            halo_before<T>(xr, t0, L, bin, z + 2, z[0], z[1]);
            float g[W + 2];  // g[j] = gy(t0 + j), 0 at and past L
            load_own<T>(gr, t0, L, vec, 0.0f, g);
            g[W] = __shfl_down_sync(HYENA_SHORTCONV_FULL_MASK, g[0], 1);
            g[W + 1] = __shfl_down_sync(HYENA_SHORTCONV_FULL_MASK, g[1], 1);
            if (lane == 31u && t0 < L) {
                g[W] = t0 + W < L ? to_f32<T>(gr[t0 + W]) : 0.0f;
                g[W + 1] = t0 + W + 1 < L ? to_f32<T>(gr[t0 + W + 1]) : 0.0f;
        }
        // Past L, g is 0: those positions add nothing to the sums, and write nothing. The W
        // products of a thread are summed in fp32 (≤ W roundings of u relative to their
        // magnitudes), everything after that in fp64.
        float f0 = 0.0f, f1 = 0.0f, f2 = 0.0f, fb = 0.0f;
        float o[W];
#pragma unroll
        for (int j = 0; j < W; ++j) {
            o[j] = w2 * g[j] + w1 * g[j + 1] + w0 * g[j + 2];
            fb += g[j];
            f2 = fmaf(g[j], z[j + 2], f2);
            f1 = fmaf(g[j], z[j + 1], f1);
            f0 = fmaf(g[j], z[j], f0);
        }
        if (t0 < L) store_own<T>(gxr, t0, L, vec, o);
        s0 += (double)f0;
        s1 += (double)f1;
        s2 += (double)f2;
        sb += (double)fb;
        }
        // Fixed-order trees: lanes by shuffle, then the warps in order.
#pragma unroll
        for (unsigned off = 16; off > 0; off /= 2) {
            s0 += __shfl_down_sync(HYENA_SHORTCONV_FULL_MASK, s0, off);
            s1 += __shfl_down_sync(HYENA_SHORTCONV_FULL_MASK, s1, off);
            s2 += __shfl_down_sync(HYENA_SHORTCONV_FULL_MASK, s2, off);
            sb += __shfl_down_sync(HYENA_SHORTCONV_FULL_MASK, sb, off);
        }
        double (*r)[HYENA_SHORTCONV_MAX_WARPS] = red[k & 1];
        if (lane == 0) {
            r[0][warp] = s0;
            r[1][warp] = s1;
            r[2][warp] = s2;
            r[3][warp] = sb;
        }
        // The other parity's buffer was last read before this barrier's previous instance.
        __syncthreads();
        if (threadIdx.x < 4) {
            double s = 0.0;
            for (unsigned i = 0; i < blockDim.x / 32u; ++i) s += r[threadIdx.x][i];
            reinterpret_cast<double*>(p.ws)[(((k * B + b) * p.segs + blockIdx.x) * 4 + threadIdx.x) * C + c] = s;
        }
    }
}

template <typename T> __device__ inline void bwd_reduce(const HyenaShortConvBwdParams p) {
    const double* __restrict__ ws = reinterpret_cast<const double*>(p.ws);
    T* __restrict__ gw = reinterpret_cast<T*>(p.grad_w);
    T* __restrict__ gb = reinterpret_cast<T*>(p.grad_b);
    const uint64_t C = p.c, segs = p.segs;
    const uint64_t wc = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (wc >= p.k * C) return;
    const uint64_t kc = wc / C, c = wc % C;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    // The partials of rows r = b·segs + i (b, then i: the order of the sums), row r's four at
    // q[(4r + k)·C]. Four rows' loads are issued before their adds: one global round trip per
    // four rows instead of one per row (the kernel is 36 blocks of latency at D = 768: measured
    // on an H200 9.7 µs at B = 1, L = 8K and 19.5 µs at 64K, segs = 8).
    const double* q = ws + kc * p.b * segs * 4 * C + c;
    const uint64_t rows = p.b * segs;
    uint64_t r = 0;
#pragma unroll 1
    for (; r + 4 <= rows; r += 4) {
        double v[4][4];
#pragma unroll
        for (int u = 0; u < 4; ++u)
#pragma unroll
            for (int k = 0; k < 4; ++k) v[u][k] = q[(4 * (r + u) + k) * C];
#pragma unroll
        for (int u = 0; u < 4; ++u)
#pragma unroll
            for (int k = 0; k < 4; ++k) s[k] += v[u][k];
    }
#pragma unroll 1
    for (; r < rows; ++r) {
#pragma unroll
        for (int k = 0; k < 4; ++k) s[k] += q[(4 * r + k) * C];
    }
    gw[3 * wc + 0] = from_f32<T>((float)s[0]);
    gw[3 * wc + 1] = from_f32<T>((float)s[1]);
    gw[3 * wc + 2] = from_f32<T>((float)s[2]);
    gb[wc] = from_f32<T>((float)s[3]);
    if (p.grad_in_bias) {
        // in_proj's bias gradient Σ_b Σ_t grad_x[t] without reading grad_x: grad_x[t] =
        // w0·gy[t+2] + w1·gy[t+1] + w2·gy[t] (terms past L absent), so its sum over t is
        // (w0 + w1 + w2)·G − (w0 + w1)·gy[0] − w0·gy[1], G = Σ_t gy[t] (s[3], this channel's
        // grad_b before rounding), gy[1] = 0 at L = 1. fp64 throughout; the stored grad_x is not
        // summed, so its rounding to T does not enter (the ones-vector GEMM this replaces summed
        // the rounded values in fp32).
        const T* __restrict__ w = reinterpret_cast<const T*>(p.w);
        const T* __restrict__ gy = reinterpret_cast<const T*>(p.grad_y);
        const double w0 = to_f32<T>(w[3 * wc + 0]), w1 = to_f32<T>(w[3 * wc + 1]), w2 = to_f32<T>(w[3 * wc + 2]);
        const float* __restrict__ head = reinterpret_cast<const float*>(p.gy_head);
        double g0 = 0.0, g1 = 0.0;
        for (uint64_t b = 0; b < p.b; ++b) {
            const uint64_t row = (kc * p.b + b) * C + c;
            if (head) {  // the fused backward's (L > 4096), fp32 as its sums took them
                g0 += head[2 * row];
                g1 += head[2 * row + 1];
                continue;
            }
            g0 += to_f32<T>(gy[row * p.l]);
            if (p.l > 1) g1 += to_f32<T>(gy[row * p.l + 1]);
        }
        const double gib = (w0 + w1 + w2) * s[3] - (w0 + w1) * g0 - w0 * g1;
        reinterpret_cast<T*>(p.grad_in_bias)[wc] = from_f32<T>((float)gib);
    }
}

}  // namespace hyena_shortconv
extern "C" __global__ void hyena_shortconv_fwd_f32(const HyenaShortConvParams p) { hyena_shortconv::fwd<float>(p); }
extern "C" __global__ void hyena_shortconv_fwd_bf16(const HyenaShortConvParams p) { hyena_shortconv::fwd<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_shortconv_fwd_f16(const HyenaShortConvParams p) { hyena_shortconv::fwd<__half>(p); }
extern "C" __global__ void hyena_shortconv_bwd_f32(const HyenaShortConvBwdParams p) { hyena_shortconv::bwd_rows<float>(p); }
extern "C" __global__ void hyena_shortconv_bwd_bf16(const HyenaShortConvBwdParams p) { hyena_shortconv::bwd_rows<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_shortconv_bwd_f16(const HyenaShortConvBwdParams p) { hyena_shortconv::bwd_rows<__half>(p); }
extern "C" __global__ void hyena_shortconv_bwd_reduce_f32(const HyenaShortConvBwdParams p) { hyena_shortconv::bwd_reduce<float>(p); }
extern "C" __global__ void hyena_shortconv_bwd_reduce_bf16(const HyenaShortConvBwdParams p) { hyena_shortconv::bwd_reduce<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_shortconv_bwd_reduce_f16(const HyenaShortConvBwdParams p) { hyena_shortconv::bwd_reduce<__half>(p); }

// Every block of these kernels does the same work (one row, tile or channel group each; a partial
// last block aside): the simulator may sample blocks when counting (crates/gpu-model).
CUDASIM_UNIFORM_BLOCKS(hyena_shortconv_fwd_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_shortconv_fwd_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_shortconv_fwd_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_shortconv_bwd_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_shortconv_bwd_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_shortconv_bwd_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_shortconv_bwd_reduce_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_shortconv_bwd_reduce_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_shortconv_bwd_reduce_f16);
