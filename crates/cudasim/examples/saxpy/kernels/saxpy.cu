// y[i] = a * x[i] + y[i] for i < n: the example kernel (valid CUDA; nvcc compiles it unchanged).
#include <stdint.h>

#ifndef CUDASIM_UNIFORM_BLOCKS
#define CUDASIM_UNIFORM_BLOCKS(name)
#endif

struct SaxpyParams {
    uint64_t x;  // const float*
    uint64_t y;  // float*
    float a;
    uint32_t n;
};

extern "C" __global__ void saxpy(const SaxpyParams p) {
    const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < p.n) {
        const float* x = reinterpret_cast<const float*>(p.x);
        float* y = reinterpret_cast<float*>(p.y);
        y[i] = p.a * x[i] + y[i];
    }
}
