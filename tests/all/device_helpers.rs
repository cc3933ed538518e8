//! Device-independent helpers of `device`: the allocation table and the GEMM extents (no GPU and
//! no simulator needed).

use hyena_kernels::device::{gemm_extents, AllocTable, DType, GemmSpec, Trans};
use hyena_kernels::HyenaError;

#[test]
fn alloc_table_accepts_ranges_inside_one_allocation_only() {
    let t = AllocTable::new();
    t.insert(0x1000, 256);
    t.insert(0x1100, 64); // adjacent allocation
    assert!(t.check("x", 0x1000, 256).is_ok());
    assert!(t.check("x", 0x10f0, 16).is_ok());
    assert!(t.check("x", 0x1100, 64).is_ok());
    assert!(t.check("x", 0x1000, 0).is_ok());
    // Crossing into the adjacent allocation, past the end, before the start, unknown.
    assert!(matches!(t.check("x", 0x10f0, 32), Err(HyenaError::Buffer { .. })));
    assert!(matches!(t.check("x", 0x1100, 65), Err(HyenaError::Buffer { .. })));
    assert!(matches!(t.check("x", 0x0fff, 2), Err(HyenaError::Buffer { .. })));
    assert!(matches!(t.check("x", u64::MAX, 2), Err(HyenaError::Buffer { .. })));
    assert_eq!(t.remove(0x1000), Some(256));
    assert_eq!(t.remove(0x1000), None);
    assert!(matches!(t.check("x", 0x1000, 1), Err(HyenaError::Buffer { .. })));
    assert_eq!(t.len(), 1);
}

fn spec(trans_a: Trans, trans_b: Trans, m: usize, n: usize, k: usize) -> GemmSpec {
    GemmSpec {
        dtype: DType::F32,
        c_dtype: DType::F32,
        trans_a,
        trans_b,
        m,
        n,
        k,
        alpha: 1.0,
        a: 0,
        lda: if trans_a == Trans::N { m } else { k },
        stride_a: m * k,
        b: 0,
        ldb: if trans_b == Trans::N { k } else { n },
        stride_b: k * n,
        beta: 0.0,
        c: 0,
        ldc: m,
        stride_c: m * n,
        batch: 3,
        tf32: false,
    }
}

#[test]
fn gemm_extents_cover_every_batch_and_reject_bad_specs() {
    // Packed operands: extent = batch * rows * cols.
    assert_eq!(gemm_extents(&spec(Trans::N, Trans::N, 4, 5, 6)).unwrap(), (72, 90, 60));
    assert_eq!(gemm_extents(&spec(Trans::T, Trans::T, 4, 5, 6)).unwrap(), (72, 90, 60));
    // Padded leading dimension: the last column ends at ld*(cols-1)+rows.
    let mut s = spec(Trans::N, Trans::N, 4, 5, 6);
    s.lda = 10;
    s.stride_a = 100;
    s.batch = 1;
    assert_eq!(gemm_extents(&s).unwrap().0, 10 * 5 + 4);
    // ld smaller than the stored height, zero sizes, overflow.
    let mut s = spec(Trans::N, Trans::N, 4, 5, 6);
    s.ldc = 3;
    assert!(matches!(gemm_extents(&s), Err(HyenaError::Invalid(_))));
    let mut s = spec(Trans::N, Trans::N, 4, 5, 6);
    s.k = 0;
    assert!(matches!(gemm_extents(&s), Err(HyenaError::Invalid(_))));
    let mut s = spec(Trans::N, Trans::N, 4, 5, 6);
    s.stride_b = usize::MAX / 2;
    assert!(matches!(gemm_extents(&s), Err(HyenaError::Invalid(_))));
}
