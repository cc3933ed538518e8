/*
 * common.cuh: the few definitions every kernel needs that differ between nvcc and the SIMT
 * simulator (crates/cudasim/cpp/cuda_sim.h, force-included by the cudasim build helper, defines
 * CUDASIM and its own versions first). Kernels include this file; nothing else may need an #ifdef
 * for the simulator.
 */
#ifndef HYENA_COMMON_CUH
#define HYENA_COMMON_CUH

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
}  // namespace hyena

#endif /* HYENA_COMMON_CUH */
