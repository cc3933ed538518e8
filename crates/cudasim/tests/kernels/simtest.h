/* Shared definitions of cudasim's test kernels (valid CUDA: they also compile with nvcc). */
#ifndef CUDASIM_SIMTEST_H
#define CUDASIM_SIMTEST_H
#include <stdint.h>

/* Dynamic shared memory and the uniform-blocks marker under nvcc (cuda_sim.h defines both). */
#ifndef CUDASIM_DYN_SHARED
#define CUDASIM_DYN_SHARED(T, name)                                                                \
    extern __shared__ __align__(16) unsigned char cudasim_dyn_smem_[];                             \
    T *name = reinterpret_cast<T *>(cudasim_dyn_smem_)
#endif
#ifndef CUDASIM_UNIFORM_BLOCKS
#define CUDASIM_UNIFORM_BLOCKS(name)
#endif

/* The params struct of every test kernel (SimTestParams in testkernels/src/lib.rs). */
typedef struct SimTestParams {
    uint64_t x;   /* const float*, input */
    uint64_t out; /* float*, output */
    uint64_t n;   /* number of input elements (meaning per kernel) */
    uint64_t aux; /* float* or int*, second output / scratch (per kernel) */
} SimTestParams;
static_assert(sizeof(SimTestParams) == 32, "SimTestParams size");

#endif
