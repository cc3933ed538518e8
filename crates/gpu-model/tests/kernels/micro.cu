// Microkernels for the SASS instruction estimate (crates/gpu-model/tests/all/estimate.rs).
// Each kernel's dynamic SASS instruction count is derived by hand from its listing
// (tests/fixtures/micro_sm90.sass, nvcc 13.0 -arch=sm_90 -O3 -lineinfo, nvdisasm 13.5 -gi -c).
// Line numbers matter: the tests name them. Append new kernels at the end.

__device__ __forceinline__ float poly(float x) {
  float y = x * x + 0.5f;
  return y * x - 1.0f;
}

extern "C" __global__ void micro_straight(float* y, const float* x) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = x[i];
  y[i] = v * 3.0f + 1.0f;
}

extern "C" __global__ void micro_looped(float* y, const float* x, int n) {
  int i = threadIdx.x;
  float acc = 0.0f;
  for (int k = 0; k < n; ++k)
    acc += x[i + 32 * k] * 1.5f;
  y[i] = acc;
}

extern "C" __global__ void micro_divergent(float* y, const float* x) {
  int i = threadIdx.x;
  float v = x[i];
  if (i & 32) {
    v = __sinf(v) * 2.0f;
  } else {
    v = __expf(v) + 3.0f;
  }
  y[i] = v;
}

extern "C" __global__ void micro_unrolled(float* y, const float* x) {
  int i = threadIdx.x;
  float acc = 0.0f;
#pragma unroll
  for (int k = 0; k < 8; ++k)
    acc = acc * x[i + 32 * k] + 1.0f;
  y[i] = acc;
}

extern "C" __global__ void micro_called(float* y, const float* x) {
  int i = threadIdx.x;
  float a = poly(x[i]);
  float b = poly(x[i + 32]);
  y[i] = a + b;
}
