/*
 * hyena_params.h: launch-parameter structs shared by the CUDA kernels (kernels/*.cu), the SIMT
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

#include <stddef.h>
#include <stdint.h>

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
HYENA_STATIC_ASSERT(offsetof(HyenaGateFwdParams, a) == 0, "HyenaGateFwdParams.a");
HYENA_STATIC_ASSERT(offsetof(HyenaGateFwdParams, b) == 8, "HyenaGateFwdParams.b");
HYENA_STATIC_ASSERT(offsetof(HyenaGateFwdParams, out) == 16, "HyenaGateFwdParams.out");
HYENA_STATIC_ASSERT(offsetof(HyenaGateFwdParams, n) == 24, "HyenaGateFwdParams.n");

HYENA_STATIC_ASSERT(sizeof(HyenaGateBwdParams) == 48, "HyenaGateBwdParams size");
HYENA_STATIC_ASSERT(offsetof(HyenaGateBwdParams, a) == 0, "HyenaGateBwdParams.a");
HYENA_STATIC_ASSERT(offsetof(HyenaGateBwdParams, b) == 8, "HyenaGateBwdParams.b");
HYENA_STATIC_ASSERT(offsetof(HyenaGateBwdParams, grad_out) == 16, "HyenaGateBwdParams.grad_out");
HYENA_STATIC_ASSERT(offsetof(HyenaGateBwdParams, grad_a) == 24, "HyenaGateBwdParams.grad_a");
HYENA_STATIC_ASSERT(offsetof(HyenaGateBwdParams, grad_b) == 32, "HyenaGateBwdParams.grad_b");
HYENA_STATIC_ASSERT(offsetof(HyenaGateBwdParams, n) == 40, "HyenaGateBwdParams.n");

#endif /* HYENA_PARAMS_H */
