/*
 * common.cuh: the few definitions every kernel needs that differ between nvcc and the SIMT
 * simulator (crates/cudasim/cpp/cuda_sim.h, force-included by the cudasim build helper, defines
 * CUDASIM and its own versions first). Kernels include this file; nothing else may need an #ifdef
 * for the simulator.
 */
#ifndef HYENA_COMMON_CUH
#define HYENA_COMMON_CUH

#include <stdint.h>

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
template <typename T> __device__ inline float2 load2(const T* x, uint64_t t, uint64_t L, bool vec) {
    if (vec && t + 1 < L) {
        const typename Vec2<T>::type w = *reinterpret_cast<const typename Vec2<T>::type*>(x + t);
        return make_float2(to_f32<T>(w.x), to_f32<T>(w.y));
    }
    return make_float2(t < L ? to_f32<T>(x[t]) : 0.f, t + 1 < L ? to_f32<T>(x[t + 1]) : 0.f);
}
template <typename T> __device__ inline void store2(T* x, uint64_t t, uint64_t L, bool vec, float a, float b) {
    if (vec && t + 1 < L) {
        typename Vec2<T>::type w;
        w.x = from_f32<T>(a);
        w.y = from_f32<T>(b);
        *reinterpret_cast<typename Vec2<T>::type*>(x + t) = w;
        return;
    }
    if (t < L) x[t] = from_f32<T>(a);
    if (t + 1 < L) x[t + 1] = from_f32<T>(b);
}
template <typename T> __device__ inline bool aligned2(const void* p) { return p == nullptr || (reinterpret_cast<uintptr_t>(p) % (2 * sizeof(T))) == 0; }
}  // namespace hyena

#endif /* HYENA_COMMON_CUH */
