// The microkernels of micro.cu for the SIMT simulator (crates/cudasim), so that
// crates/gpu-model/tests/all/estimate.rs can join the simulator's own line counts of micro.cu with the
// SASS that nvcc builds from the same file. cudasim kernels take one params struct by value, so
// micro.cu's kernels are compiled here as inline device functions (`__global__` redefined while
// the file is included) and each is called by a one-parameter wrapper. Built by
// crates/cudasim/testkernels (library `micro`); never compiled by nvcc.

#pragma push_macro("__global__")
#undef __global__
#define __global__ inline __attribute__((always_inline))
#include "micro.cu"
#pragma pop_macro("__global__")

struct MicroParams {
  float* y;
  const float* x;
  int n;
};

extern "C" __global__ void sim_micro_straight(const MicroParams p) { micro_straight(p.y, p.x); }
extern "C" __global__ void sim_micro_looped(const MicroParams p) { micro_looped(p.y, p.x, p.n); }
extern "C" __global__ void sim_micro_divergent(const MicroParams p) { micro_divergent(p.y, p.x); }
extern "C" __global__ void sim_micro_unrolled(const MicroParams p) { micro_unrolled(p.y, p.x); }
extern "C" __global__ void sim_micro_called(const MicroParams p) { micro_called(p.y, p.x); }
