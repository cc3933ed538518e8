/*
 * common.cuh: the few definitions every kernel needs that differ between nvcc and the SIMT
 * simulator (kernels/sim/cuda_sim.h, force-included by build/sim.rs, defines them first).
 * Kernels include this file; nothing else may need an #ifdef for the simulator.
 */
#ifndef HYENA_COMMON_CUH
#define HYENA_COMMON_CUH

/* Dynamic shared memory: `HYENA_DYN_SHARED(float, smem);` declares `float* smem` pointing at the
 * block's dynamic shared memory (LaunchConfig::shared_bytes bytes, 16-byte aligned). Use it at most
 * once per kernel; the same storage may be re-viewed with reinterpret_cast. */
#ifndef HYENA_DYN_SHARED
#define HYENA_DYN_SHARED(T, name)                                                                  \
    extern __shared__ __align__(16) unsigned char hyena_dyn_smem_[];                               \
    T *name = reinterpret_cast<T *>(hyena_dyn_smem_)
#endif

#endif /* HYENA_COMMON_CUH */
