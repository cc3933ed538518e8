// shortconv.cu: short causal depthwise convolution (3 taps) + bias, forward and backward.
//
//   forward:  y[b,c,t]  = w[c,0]*x[t-2] + w[c,1]*x[t-1] + w[c,2]*x[t] + bias[c]   (x[<0] = 0)
//   backward: gx[b,c,t] = w[c,2]*gy[t] + w[c,1]*gy[t+1] + w[c,0]*gy[t+2]         (gy[>=L] = 0)
//             gw[c,k]   = sum_{b,t} gy[b,c,t] * x[b,c,t-2+k],  gb[c] = sum_{b,t} gy[b,c,t]
//
// Layout: x, y, gy, gx as [B, C, L] (contiguous), w as [C, 3], bias as [C]. Storage T in
// {float, bf16, fp16}; arithmetic in fp32, one rounding to T per output.
//
// Cost (N = B*C*L, fp32 storage):
//   forward : reads x once (neighbours come from L1/L2), writes y:  8 N bytes, 6 N FLOPs.
//   backward: reads x and gy, writes gx: 12 N bytes; 6 N FLOPs for gx + 8 N for the sums.
//             Partial sums: 16 bytes per (b, c) row (fp32 workspace [B, C, 4]), then the reduce
//             kernel reads them once: negligible next to the rows. Memory-bound everywhere.
//
// Backward design (deterministic, no float atomics): `hyena_shortconv_bwd_*` runs one block per
// (b, c) row; it writes gx and reduces the row's 4 parameter sums in a fixed order (strided
// per-thread sums, then a shared-memory tree) into ws[(b*C + c)*4 + k]. Then
// `hyena_shortconv_bwd_reduce_*` (one thread per channel) sums the B partials in order b = 0..B-1
// and writes gw [C, 3] and gb [C] (overwritten, not accumulated). Same inputs -> same bits.
//
// Accuracy: the parameter gradients sum B·L terms; an fp32 running sum of L/256 terms per thread
// would err by ~u·sqrt(L/256) (u = 2^-24; 4e-6 at L = 2^20, worst case u·L/256). The per-thread
// sums, the tree and the batch sum are fp64 instead: each product of two fp32 values is exact in
// fp64 and 2^20 fp64 additions err by < 2^-33 of the sum of magnitudes, so each row partial is
// exact to its single rounding to fp32 in ws (u), and the B partials add in fp64 (one more
// rounding on store). The kernel stays memory-bound (4 fp64 adds/FMAs per 8 bytes read; sm_80/90
// run fp64 at half the fp32 rate).
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include "common.cuh"
#include "hyena_params.h"

namespace hyena_shortconv {

using hyena::to_f32;
using hyena::from_f32;

// Threads per block of the backward row kernel (the tree reduction below assumes it).
#define HYENA_SHORTCONV_BWD_BLOCK 256

template <typename T> __device__ inline void fwd(const HyenaShortConvParams p) {
    const T* __restrict__ x = reinterpret_cast<const T*>(p.x);
    const T* __restrict__ w = reinterpret_cast<const T*>(p.w);
    const T* __restrict__ bias = reinterpret_cast<const T*>(p.bias);
    T* __restrict__ y = reinterpret_cast<T*>(p.y);
    const uint64_t L = p.l, C = p.c;
    const uint64_t n = p.b * C * L;
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const uint64_t t = i % L;
        const uint64_t ch = (i / L) % C;
        float acc = to_f32<T>(bias[ch]) + to_f32<T>(w[3 * ch + 2]) * to_f32<T>(x[i]);
        if (t >= 1) acc += to_f32<T>(w[3 * ch + 1]) * to_f32<T>(x[i - 1]);
        if (t >= 2) acc += to_f32<T>(w[3 * ch + 0]) * to_f32<T>(x[i - 2]);
        y[i] = from_f32<T>(acc);
    }
}

template <typename T> __device__ inline void bwd_rows(const HyenaShortConvBwdParams p) {
    __shared__ double red[4][HYENA_SHORTCONV_BWD_BLOCK];
    const T* __restrict__ x = reinterpret_cast<const T*>(p.x);
    const T* __restrict__ w = reinterpret_cast<const T*>(p.w);
    const T* __restrict__ gy = reinterpret_cast<const T*>(p.grad_y);
    T* __restrict__ gx = reinterpret_cast<T*>(p.grad_x);
    float* __restrict__ ws = reinterpret_cast<float*>(p.ws);
    const uint64_t L = p.l, C = p.c;
    const uint64_t row = blockIdx.x;  // b * C + c
    const uint64_t ch = row % C;
    const float w0 = to_f32<T>(w[3 * ch]), w1 = to_f32<T>(w[3 * ch + 1]), w2 = to_f32<T>(w[3 * ch + 2]);
    const T* xr = x + row * L;
    const T* gr = gy + row * L;
    T* gxr = gx + row * L;
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, sb = 0.0;
    for (uint64_t t = threadIdx.x; t < L; t += blockDim.x) {
        const float g = to_f32<T>(gr[t]);
        float acc = w2 * g;
        if (t + 1 < L) acc += w1 * to_f32<T>(gr[t + 1]);
        if (t + 2 < L) acc += w0 * to_f32<T>(gr[t + 2]);
        gxr[t] = from_f32<T>(acc);
        const double gd = (double)g;
        sb += gd;
        s2 = fma(gd, (double)to_f32<T>(xr[t]), s2);
        if (t >= 1) s1 = fma(gd, (double)to_f32<T>(xr[t - 1]), s1);
        if (t >= 2) s0 = fma(gd, (double)to_f32<T>(xr[t - 2]), s0);
    }
    const unsigned tid = threadIdx.x;
    red[0][tid] = s0;
    red[1][tid] = s1;
    red[2][tid] = s2;
    red[3][tid] = sb;
    __syncthreads();
    for (unsigned half = HYENA_SHORTCONV_BWD_BLOCK / 2; half > 0; half /= 2) {
        if (tid < half) {
#pragma unroll
            for (int k = 0; k < 4; ++k) red[k][tid] += red[k][tid + half];
        }
        __syncthreads();
    }
    if (tid < 4) ws[row * 4 + tid] = (float)red[tid][0];
}

template <typename T> __device__ inline void bwd_reduce(const HyenaShortConvBwdParams p) {
    const float* __restrict__ ws = reinterpret_cast<const float*>(p.ws);
    T* __restrict__ gw = reinterpret_cast<T*>(p.grad_w);
    T* __restrict__ gb = reinterpret_cast<T*>(p.grad_b);
    const uint64_t C = p.c;
    const uint64_t ch = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= C) return;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    for (uint64_t b = 0; b < p.b; ++b) {
        const float* q = ws + (b * C + ch) * 4;
#pragma unroll
        for (int k = 0; k < 4; ++k) s[k] += (double)q[k];
    }
    gw[3 * ch + 0] = from_f32<T>((float)s[0]);
    gw[3 * ch + 1] = from_f32<T>((float)s[1]);
    gw[3 * ch + 2] = from_f32<T>((float)s[2]);
    gb[ch] = from_f32<T>((float)s[3]);
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
