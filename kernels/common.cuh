/*
 * common.cuh: the few definitions every kernel needs that differ between nvcc and the SIMT
 * simulator (crates/cudasim/cpp/cuda_sim.h, force-included by the cudasim build helper, defines
 * CUDASIM and its own versions first). Kernels include this file; nothing else may need an #ifdef
 * for the simulator.
 */
#ifndef HYENA_COMMON_CUH
#define HYENA_COMMON_CUH

#include <stdint.h>
#include "hyena_params.h"

/* Dynamic shared memory: `HYENA_DYN_SHARED(float, smem);` declares `float* smem` pointing at the
 * block's dynamic shared memory (LaunchConfig::shared_bytes bytes, 16-byte aligned). Use it at most
 * once per kernel; the same storage may be re-viewed with reinterpret_cast. */
#ifdef CUDASIM
#define HYENA_DYN_SHARED(T, name) CUDASIM_DYN_SHARED(T, name)
#else
#define HYENA_DYN_SHARED(T, name)                                                                  \
    extern __shared__ __align__(16) unsigned char hyena_dyn_smem_[];                               \
    T *name = reinterpret_cast<T *>(hyena_dyn_smem_)
#endif

/* `CUDASIM_UNIFORM_BLOCKS(kernel);` declares that every block of the kernel does the same work (the
 * simulator may then sample blocks when counting); nothing under nvcc. */
#ifndef CUDASIM_UNIFORM_BLOCKS
#define CUDASIM_UNIFORM_BLOCKS(name)
#endif

/* Storage <-> arithmetic conversions shared by every kernel family: fp32 arithmetic on f32, f16 and
 * bf16 storage, one round-to-nearest-even per stored value. Needs <cuda_fp16.h> and <cuda_bf16.h>
 * included first. */
namespace hyena {
template <typename T> __device__ inline float to_f32(T x);
template <> __device__ inline float to_f32<float>(float x) { return x; }
template <> __device__ inline float to_f32<__half>(__half x) { return __half2float(x); }
template <> __device__ inline float to_f32<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ inline T from_f32(float x);
template <> __device__ inline float from_f32<float>(float x) { return x; }
template <> __device__ inline __half from_f32<__half>(float x) { return __float2half_rn(x); }
template <> __device__ inline __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

/* 2 consecutive storage values x[t], x[t+1] of a row of length L, loaded as floats (0 past L) or
 * stored rounded once (nothing past L): one 2-element vector access when `vec` (the row is aligned
 * to 2 elements, aligned2; t even) and both are in range, else element accesses. */
template <typename T> struct Vec2;
template <> struct Vec2<float> { typedef float2 type; };
template <> struct Vec2<__half> { typedef __half2 type; };
template <> struct Vec2<__nv_bfloat16> { typedef __nv_bfloat162 type; };
/* A 2-element vector at p (aligned), loaded or stored as one machine word: the simulator's host
 * build copies __half2 / __nv_bfloat162 member by member (their copy operators), two 2-byte
 * accesses that its counters read as two requests and twice the sectors (the model's L2 bytes);
 * nvcc emits one 32-bit access either way (found 2026-12-06: the tensor-core forward's loads). */
template <typename V> __device__ __forceinline__ V ld_vec2(const V* p) {
    if constexpr (sizeof(V) == 4) {
        const uint32_t w = *reinterpret_cast<const uint32_t*>(p);
        V v;
        memcpy(static_cast<void*>(&v), &w, 4);
        return v;
    } else {
        return *p;
    }
}
template <typename V> __device__ __forceinline__ void st_vec2(V* p, const V& v) {
    if constexpr (sizeof(V) == 4) {
        uint32_t w;
        memcpy(&w, static_cast<const void*>(&v), 4);
        *reinterpret_cast<uint32_t*>(p) = w;
    } else {
        *p = v;
    }
}
template <typename T> __device__ inline float2 load2(const T* x, uint64_t t, uint64_t L, bool vec) {
    if (vec && t + 1 < L) {
        const typename Vec2<T>::type w = ld_vec2(reinterpret_cast<const typename Vec2<T>::type*>(x + t));
        return make_float2(to_f32<T>(w.x), to_f32<T>(w.y));
    }
    return make_float2(t < L ? to_f32<T>(x[t]) : 0.f, t + 1 < L ? to_f32<T>(x[t + 1]) : 0.f);
}
template <typename T> __device__ inline void store2(T* x, uint64_t t, uint64_t L, bool vec, float a, float b) {
    if (vec && t + 1 < L) {
        typename Vec2<T>::type w;
        w.x = from_f32<T>(a);
        w.y = from_f32<T>(b);
        st_vec2(reinterpret_cast<typename Vec2<T>::type*>(x + t), w);
        return;
    }
    if (t < L) x[t] = from_f32<T>(a);
    if (t + 1 < L) x[t + 1] = from_f32<T>(b);
}
template <typename T> __device__ inline bool aligned2(const void* p) { return p == nullptr || (reinterpret_cast<uintptr_t>(p) % (2 * sizeof(T))) == 0; }

/* 16 bytes of T, moved with one vector load/store when the address is 16-byte aligned. */
template <typename T> struct alignas(16) Pack {
    static const int W = 16 / (int)sizeof(T);
    T v[16 / sizeof(T)];
};
__device__ inline bool aligned16(uint64_t addr) { return (addr & 15u) == 0; }

/* out[i] = a[i]·b[i] for i < n (fp32 product, one rounding to T), i = tid, tid + stride, ...: 16
 * bytes per load and store when a, b and out are 16-byte aligned (the tail element by element),
 * else element by element. The gating forward (a launch's threads) and the two-block backward's
 * grad_post = grad_y ⊙ inner (a block's threads over its row). */
template <typename T>
__device__ inline void mul_into(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out, uint64_t n, uint64_t tid, uint64_t stride) {
    uint64_t done = 0;
    if (aligned16(reinterpret_cast<uintptr_t>(a)) && aligned16(reinterpret_cast<uintptr_t>(b)) && aligned16(reinterpret_cast<uintptr_t>(out))) {
        const int W = Pack<T>::W;
        const uint64_t nv = n / W;
        const Pack<T>* __restrict__ av = reinterpret_cast<const Pack<T>*>(a);
        const Pack<T>* __restrict__ bv = reinterpret_cast<const Pack<T>*>(b);
        Pack<T>* __restrict__ ov = reinterpret_cast<Pack<T>*>(out);
        for (uint64_t i = tid; i < nv; i += stride) {
            const Pack<T> x = av[i];
            const Pack<T> y = bv[i];
            Pack<T> z;
#pragma unroll
            for (int k = 0; k < W; ++k) z.v[k] = from_f32<T>(to_f32<T>(x.v[k]) * to_f32<T>(y.v[k]));
            ov[i] = z;
        }
        done = nv * W;
    }
    /* The tail's body on a line of its own and the loop rolled (under W elements past the packs
     * once every thread's pack is done): the time model reads a loop's copies by its lines'
     * counts (docs/GPU_MODEL.md). */
#pragma unroll 1
    for (uint64_t i = done + tid; i < n; i += stride) {
        out[i] = from_f32<T>(to_f32<T>(a[i]) * to_f32<T>(b[i]));
    }
}

/* Bias broadcast (HyenaBiasFillParams) by the threads tid, tid + stride, ... of a launch: a pure
 * store pass, memory-bound. Bytes: rows * cols * sizeof(T) written once, the bias read from L1/L2.
 * In 16-byte packs when out is 16-byte aligned and a row holds whole packs (each pack inside one
 * row), element by element otherwise (which one is uniform across the launch). The gating file's
 * hyena_bias_fill_* and, for the operator's projections, the implicit filter's forward
 * (HyenaFilterFwdParams::fill: its own work is latency-bound, so the stores ride along in one
 * launch). Index arithmetic in 32 bits: the host keeps cols and nb, and the launch's threads
 * (stride), below 2^31 (ops::gating::BiasFill). */
struct FillStep {
    uint32_t q, rb;            // the unit's column (in units) and bias row (its row modulo nb)
    uint32_t cu, nb, sc, sqn;  // units per row, nb, and one stride's column and row-modulo advance
    // The next unit of this thread (stride units on): the column with carry into the row. q + sc
    // < 2 cu and rb + sqn + 1 < 2 nb stay below 2^32.
    __device__ inline void step() {
        q += sc;
        rb += sqn;
        if (q >= cu) {
            q -= cu;
            ++rb;
        }
        if (rb >= nb) rb -= nb;
    }
};

template <typename T> __device__ inline void bias_fill(const HyenaBiasFillParams& p, uint32_t tid, uint32_t stride) {
    const T* __restrict__ bias = reinterpret_cast<const T*>(p.bias);
    T* __restrict__ out = reinterpret_cast<T*>(p.out);
    const uint32_t cols = (uint32_t)p.cols, nb = (uint32_t)p.nb;
    const int W = Pack<T>::W;
    const bool packs = aligned16(p.out) && cols % W == 0;
    // Units: packs of W elements or elements. Unit i's column and bias row by steps, the divisions
    // once per thread (a u64 division and modulo per unit made the out_proj fill integer-pipe-bound
    // in the model, 4.0 µs at 8K against its 2.9 µs of DRAM time).
    const uint32_t cu = packs ? cols / W : cols;
    const uint64_t nu = p.rows * cu;
    const uint32_t sq = stride / cu, r0 = tid / cu;
    FillStep ix = {tid - r0 * cu, r0 % nb, cu, nb, stride - sq * cu, sq % nb};
    if (packs) {
        // A row's pack: one 32-bit word of the value four times (by row), or the bias's pack (by
        // column; one 16-byte load where the bias is 16-byte aligned: W scalar loads before were
        // each a warp request over 16 sectors, which the time model read as L2-bound).
        const bool bias_vec = aligned16(p.bias);
        Pack<T>* __restrict__ o = reinterpret_cast<Pack<T>*>(out) + tid;
        Pack<T>* const end = reinterpret_cast<Pack<T>*>(out) + nu;
        for (; o < end; o += stride) {
            Pack<T> z;
            if (p.by_row) {
                const T v = bias[ix.rb];
                uint32_t w;
                if (sizeof(T) == 2) {
                    uint16_t b16;
                    memcpy(&b16, &v, 2);
                    w = (uint32_t)b16 * 0x10001u;
                } else {
                    memcpy(&w, &v, 4);
                }
                const uint32_t wv[4] = {w, w, w, w};
                memcpy(&z, wv, 16);
            } else if (bias_vec) {
                z = reinterpret_cast<const Pack<T>*>(bias)[ix.q];
            } else {
#pragma unroll
                for (int k = 0; k < W; ++k) z.v[k] = bias[ix.q * W + k];
            }
            *o = z;
            ix.step();
        }
        return;
    }
    for (uint64_t i = tid; i < nu; i += stride) {
        out[i] = bias[p.by_row ? ix.rb : ix.q];
        ix.step();
    }
}

/* The short conv's output at t (shortconv.cu): wb = (w0, w1, w2, bias), zm2, zm1, z0 = z[t − 2],
 * z[t − 1], z[t]: bias + w2·z[t] + w1·z[t − 1] + w0·z[t − 2], three explicit FMAs in this order.
 * One expression for every kernel that forms it (hyena_shortconv_fwd_*, and the tensor-core forward
 * with the short conv fused, hyena_fftconv_fwd_sc_tc_m13_*): the same bits on either path. */
__device__ __forceinline__ float shortconv_point(float4 wb, float zm2, float zm1, float z0) {
    return fmaf(wb.x, zm2, fmaf(wb.y, zm1, fmaf(wb.z, z0, wb.w)));
}
}  // namespace hyena

#endif /* HYENA_COMMON_CUH */
