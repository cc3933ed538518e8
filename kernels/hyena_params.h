/*
 * hyena_params.h: launch-parameter structs shared by the CUDA kernels (kernels/<name>.cu), the SIMT
 * simulator build and Rust (bindgen -> $OUT_DIR/hyena_params.rs, see build/params.rs).
 *
 * Rules (every struct in this file):
 *  - plain C, passed BY VALUE as the single argument of an extern "C" __global__ entry point;
 *  - device pointers are uint64_t addresses (never pointers: the struct must have the same layout
 *    on the host, on the device and in Rust);
 *  - fields ordered so that there is no padding; every struct's size and every field's offset is
 *    checked here with _Static_assert and again on the Rust side (src/kernels.rs);
 *  - one struct per kernel family (all dtypes of a family share it); the Rust kernel index
 *    (src/kernels.rs, KERNELS) names the struct each entry point takes.
 *
 * The simulator helper may append a clearly separated section at the end of this file.
 */
#ifndef HYENA_PARAMS_H
#define HYENA_PARAMS_H

/* Only <stdint.h>: bindgen runs PyPI's libclang, which has no compiler resource folder
 * (no <stddef.h>), so offsets are checked with __builtin_offsetof (gcc, clang, nvcc). */
#include <stdint.h>

#define HYENA_OFFSETOF(type, field) __builtin_offsetof(type, field)

#ifdef __cplusplus
#define HYENA_STATIC_ASSERT static_assert
#else
#define HYENA_STATIC_ASSERT _Static_assert
#endif

/* ---- gating (kernels/gating.cu) ------------------------------------------------------------ */

/* Forward of the gating product: out[i] = a[i] * b[i] for i < n (fp32 arithmetic).
 * Kernels: hyena_gate_fwd_{f32,bf16,f16}. Element type of a, b, out = the kernel's dtype. */
typedef struct HyenaGateFwdParams {
    uint64_t a;   /* const T*, n elements */
    uint64_t b;   /* const T*, n elements */
    uint64_t out; /* T*, n elements */
    uint64_t n;   /* number of elements */
} HyenaGateFwdParams;

/* Backward of the gating product: grad_a[i] = grad_out[i] * b[i], grad_b[i] = grad_out[i] * a[i].
 * Kernels: hyena_gate_bwd_{f32,bf16,f16}. */
typedef struct HyenaGateBwdParams {
    uint64_t a;        /* const T*, n elements */
    uint64_t b;        /* const T*, n elements */
    uint64_t grad_out; /* const T*, n elements */
    uint64_t grad_a;   /* T*, n elements */
    uint64_t grad_b;   /* T*, n elements */
    uint64_t n;        /* number of elements */
} HyenaGateBwdParams;

HYENA_STATIC_ASSERT(sizeof(HyenaGateFwdParams) == 32, "HyenaGateFwdParams size");
HYENA_STATIC_ASSERT(HYENA_OFFSETOF(HyenaGateFwdParams, a) == 0, "HyenaGateFwdParams.a");
HYENA_STATIC_ASSERT(HYENA_OFFSETOF(HyenaGateFwdParams, b) == 8, "HyenaGateFwdParams.b");
HYENA_STATIC_ASSERT(HYENA_OFFSETOF(HyenaGateFwdParams, out) == 16, "HyenaGateFwdParams.out");
HYENA_STATIC_ASSERT(HYENA_OFFSETOF(HyenaGateFwdParams, n) == 24, "HyenaGateFwdParams.n");

HYENA_STATIC_ASSERT(sizeof(HyenaGateBwdParams) == 48, "HyenaGateBwdParams size");
HYENA_STATIC_ASSERT(HYENA_OFFSETOF(HyenaGateBwdParams, a) == 0, "HyenaGateBwdParams.a");
HYENA_STATIC_ASSERT(HYENA_OFFSETOF(HyenaGateBwdParams, b) == 8, "HyenaGateBwdParams.b");
HYENA_STATIC_ASSERT(HYENA_OFFSETOF(HyenaGateBwdParams, grad_out) == 16, "HyenaGateBwdParams.grad_out");
HYENA_STATIC_ASSERT(HYENA_OFFSETOF(HyenaGateBwdParams, grad_a) == 24, "HyenaGateBwdParams.grad_a");
HYENA_STATIC_ASSERT(HYENA_OFFSETOF(HyenaGateBwdParams, grad_b) == 32, "HyenaGateBwdParams.grad_b");
HYENA_STATIC_ASSERT(HYENA_OFFSETOF(HyenaGateBwdParams, n) == 40, "HyenaGateBwdParams.n");

/* ==== simulator test kernels (kernels/sim_tests/*.cu; compiled only for the SIMT simulator) ==== */
/* Maintained by the simulator helper. One struct for every planted-bug / self-test kernel. */
typedef struct HyenaSimTestParams {
    uint64_t x;   /* const float*, input */
    uint64_t out; /* float*, output */
    uint64_t n;   /* number of input elements (meaning per kernel, see kernels/sim_tests/) */
    uint64_t aux; /* float* or int*, second output / scratch (per kernel) */
} HyenaSimTestParams;
HYENA_STATIC_ASSERT(sizeof(HyenaSimTestParams) == 32, "HyenaSimTestParams size");
/* ==== end of simulator test kernels ==== */

#endif /* HYENA_PARAMS_H */
