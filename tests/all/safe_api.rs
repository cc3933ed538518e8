//! The safe API cannot be driven into a panic or undefined behaviour (issue 12, "Soundness of the
//! safe API"). What the type system now rules out is shown by the `compile_fail` examples in the
//! docs of `hyena_kernels::device` (`as_bytes::<&str>`, `DeviceBuffer<bool>`, a write through a
//! shared borrow, freeing a buffer another thread copies from) and `ops::gating::gate_fwd` (an
//! output aliasing an input); this file checks the runtime side:
//! - sizes derived from caller input that overflow `usize` are typed errors, not panics
//!   (`Rows::new` with a huge stride, FFT plans, CPU ops, device views and buffers);
//! - device memory read back is always a valid value (the simulator's 0xff poison is a NaN);
//! - the exclusive views (`view_mut`, `split_at`, `chunks_mut`) write exactly their own range;
//! - many threads allocating, writing, reading and freeing on one device at once see their own
//!   data intact (the race the old safe `free_raw` allowed cannot be written any more).

use crate::common;

use hyena_kernels::cpu::fftconv::{fftconv_fwd, FftConvPlan, Rows};
use hyena_kernels::cpu::shortconv::shortconv_fwd;
use hyena_kernels::device::{as_bytes, as_bytes_mut, DeviceBuffer};
use hyena_kernels::error::shape_len;
use hyena_kernels::HyenaError;

#[test]
fn huge_sizes_are_typed_errors_on_the_cpu() {
    let data = [0.0f64; 16];
    // Row (b, c) starts at b·stride + c·L: (B−1)·stride overflows usize.
    let e = Rows::new(&data, 3, 1, 4, usize::MAX / 2 + 1).unwrap_err();
    assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
    let e = Rows::new(&data, 2, usize::MAX, 2, 4).unwrap_err();
    assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
    let e = Rows::contiguous(&data, 1 << 40, 1 << 40, 1).unwrap_err();
    assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
    // A consistent view still works, and a short buffer is a Shape error.
    assert_eq!(Rows::new(&data, 2, 2, 4, 8).unwrap().dims(), (2, 2, 4));
    assert!(matches!(Rows::new(&data, 3, 2, 4, 8), Err(HyenaError::Shape { .. })));
    // An FFT plan for a length whose FFT size cannot be represented.
    assert!(matches!(FftConvPlan::<f64>::new(usize::MAX), Err(HyenaError::Length(_))));
    // B·C·L overflowing in the CPU ops.
    let mut y = [0.0f64; 4];
    let e = fftconv_fwd(&data[..4], &data[..4], &data[..1], usize::MAX, 1 << 33, 1, &mut y).unwrap_err();
    assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
    let e = shortconv_fwd(&data[..4], &data[..3], &data[..1], 1 << 32, 1 << 32, 1, &mut y).unwrap_err();
    assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
    assert_eq!(shape_len("x", &[2, 3, 4]).unwrap(), 24);
    assert!(matches!(shape_len("x", &[usize::MAX, 2]), Err(HyenaError::Invalid(_))));
}

/// Sizes that fit in `usize` but can never be allocated: each must be a typed
/// [`HyenaError::Alloc`], not an abort inside `vec!` or an FFT planner. Every request below is
/// ≥ 2⁵² bytes, more than the user address space of any current 64-bit Linux (47 or 48 bits,
/// 52 at most with 5-level or LVA paging), so `try_reserve` fails whatever the overcommit policy
/// and nothing is allocated for real: the test costs nothing.
#[test]
fn huge_representable_sizes_are_alloc_errors_not_aborts() {
    use hyena_kernels::cpu::filter::{modulation_deltas, positional_embedding};
    let is_alloc = |e: &HyenaError| matches!(e, HyenaError::Alloc { bytes, .. } if *bytes >= 1 << 52);
    // z is [l_max, E] = 3·2⁵⁰ f32 = 3·2⁵² bytes.
    let e = positional_embedding::<f32>(3, 1 << 50).unwrap_err();
    assert!(is_alloc(&e) && e.to_string().contains("positional embedding"), "{e}");
    let e = modulation_deltas::<f64>(1 << 52).unwrap_err();
    assert!(is_alloc(&e), "{e}");
    // 2⁵⁰ + 1 is not 5-smooth: the planner's size search must not crawl up to the next smooth
    // number one integer at a time, and the plan (≈ 2⁵² complex f32) cannot be allocated.
    let e = FftConvPlan::<f32>::new((1 << 50) + 1).err().unwrap();
    assert!(is_alloc(&e), "{e}");
    // Reached from a CPU op with empty data: B = C = 0 passes every length check.
    let e = fftconv_fwd::<f64>(&[], &[], &[], 0, 0, 1 << 50, &mut []).unwrap_err();
    assert!(is_alloc(&e), "{e}");
}

#[test]
fn next_smooth_of_huge_lengths_is_exact_and_fast() {
    use hyena_kernels::cpu::fftconv::next_smooth;
    // Oracle: every 2^a·3^b·5^c below 2⁶⁵ (about 14 000 numbers), sorted; the answer is the first
    // one ≥ x. (The brute-force oracle of tests/all/cpu_ops.rs covers small x.)
    let mut all = Vec::new();
    let mut p2 = 1u128;
    while p2 < 1 << 65 {
        let mut p23 = p2;
        while p23 < 1 << 65 {
            let mut p235 = p23;
            while p235 < 1 << 65 {
                all.push(p235);
                p235 *= 5;
            }
            p23 *= 3;
        }
        p2 *= 2;
    }
    all.sort_unstable();
    for x in [(1usize << 50) + 1, (1 << 62) + 7, 3usize.pow(39) + 1, 1_000_000_007, (1 << 63) + 1] {
        let want = all[all.partition_point(|&v| v < x as u128)];
        let want = usize::try_from(want).unwrap_or(usize::MAX);
        assert_eq!(next_smooth(x), want, "x = {x}");
    }
    assert_eq!(next_smooth(usize::MAX), usize::MAX);
}

#[test]
fn row_views_get_and_row_agree_and_get_refuses_out_of_range() {
    let data: Vec<f64> = (0..16).map(|i| i as f64).collect();
    let r = Rows::new(&data, 2, 2, 4, 8).unwrap();
    assert_eq!(r.get(1, 1), Some(&data[12..16]));
    assert_eq!(r.row(1, 0), &data[8..12]);
    assert_eq!(r.get(2, 0), None);
    assert_eq!(r.get(0, 2), None);
    assert_eq!(r.get(usize::MAX, usize::MAX), None);
    assert!(std::panic::catch_unwind(|| r.row(0, 2)).is_err());
}

#[test]
fn byte_views_cover_exactly_the_elements() {
    // 0x0102 as u16 in native byte order, 4 bytes per f32.
    assert_eq!(as_bytes(&[0x0102u16]), 0x0102u16.to_ne_bytes());
    assert_eq!(as_bytes(&[1.0f32, 2.0]).len(), 8);
    let mut v = [0.0f32; 2];
    as_bytes_mut(&mut v)[..4].copy_from_slice(&1.5f32.to_ne_bytes());
    assert_eq!(v, [1.5, 0.0]);
    // Zero-sized element types have no bytes (no panic).
    assert!(as_bytes(&[(); 3]).is_empty());
}

#[test]
fn device_buffers_reject_overflowing_sizes_and_ranges() {
    for dev in common::devices() {
        let e = DeviceBuffer::<f64>::alloc(&dev, usize::MAX / 4).err().expect("an overflowing size must fail");
        assert!(matches!(e, HyenaError::Invalid(_)), "{e}");
        let mut b = DeviceBuffer::from_host(&dev, &[1.0f32, 2.0, 3.0]).unwrap();
        assert!(matches!(b.view(2..4), Err(HyenaError::Buffer { .. })));
        #[allow(clippy::reversed_empty_ranges)]
        let r = 3..1;
        assert!(matches!(b.view_mut(r), Err(HyenaError::Buffer { .. })));
        assert!(matches!(b.as_view_mut().split_at(4), Err(HyenaError::Buffer { .. })));
        assert!(matches!(b.chunks_mut(0), Err(HyenaError::Invalid(_))));
        assert!(matches!(b.write(&[1.0]), Err(HyenaError::Shape { .. })));
        assert_eq!(b.to_host().unwrap(), vec![1.0, 2.0, 3.0], "rejected calls wrote nothing");
    }
}

#[test]
fn exclusive_views_write_exactly_their_range() {
    for dev in common::devices() {
        let mut b = DeviceBuffer::from_host(&dev, &[0.0f32; 10]).unwrap();
        // Chunks of 4: [0, 4), [4, 8), [8, 10).
        let mut chunks = b.chunks_mut(4).unwrap();
        assert_eq!(chunks.iter().map(|c| c.len()).collect::<Vec<_>>(), vec![4, 4, 2]);
        chunks[2].write(&[9.0, 10.0]).unwrap();
        chunks[0].write(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        drop(chunks);
        let (mut head, tail) = b.view_mut(4..8).unwrap().split_at(1).unwrap();
        head.write(&[5.0]).unwrap();
        let mut tail = tail.into_view_mut(1..3).unwrap();
        tail.write(&[7.0, 8.0]).unwrap();
        assert_eq!(b.to_host().unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 7.0, 8.0, 9.0, 10.0]);
        // Device-to-device copy between two buffers, and into a sub-range.
        let src = DeviceBuffer::from_host(&dev, &[-1.0f32, -2.0]).unwrap();
        b.view_mut(5..7).unwrap().copy_from(src.as_view()).unwrap();
        assert_eq!(b.view(4..8).unwrap().to_host().unwrap(), vec![5.0, -1.0, -2.0, 8.0]);
        assert!(matches!(b.view_mut(0..3).unwrap().copy_from(src.as_view()), Err(HyenaError::Shape { .. })));
    }
}

/// A buffer of another device is refused by a copy (its address means nothing here).
#[cfg(feature = "sim")]
#[test]
fn copies_between_devices_are_refused() {
    use hyena_kernels::device::{sim::SimDevice, Device};
    use std::sync::Arc;
    let (d1, d2): (Arc<dyn Device>, Arc<dyn Device>) = (Arc::new(SimDevice::new()), Arc::new(SimDevice::new()));
    let src = DeviceBuffer::from_host(&d1, &[1.0f32, 2.0]).unwrap();
    let mut dst = DeviceBuffer::from_host(&d2, &[0.0f32, 0.0]).unwrap();
    let e = dst.copy_from(src.as_view()).unwrap_err();
    assert!(matches!(e, HyenaError::Buffer { .. }), "{e}");
    assert_eq!(dst.to_host().unwrap(), vec![0.0, 0.0]);
}

/// Fresh simulator memory holds 0xff bytes: read back as f32 it is a NaN (a valid value), as
/// u8 it is 255. With the old `T: Copy` bound a `bool` here was UB.
#[cfg(feature = "sim")]
#[test]
fn uninitialised_simulator_memory_reads_back_as_valid_values() {
    use hyena_kernels::device::{sim::SimDevice, Device};
    use std::sync::Arc;
    let dev: Arc<dyn Device> = Arc::new(SimDevice::new());
    let f = DeviceBuffer::<f32>::alloc(&dev, 3).unwrap().to_host().unwrap();
    assert!(f.iter().all(|x| x.is_nan() && x.to_bits() == u32::MAX), "{f:?}");
    assert_eq!(DeviceBuffer::<u8>::alloc(&dev, 2).unwrap().to_host().unwrap(), vec![255, 255]);
}

/// Threads sharing one device: each allocates, writes, copies, reads and frees its own buffers
/// while all of them read one shared buffer. Every thread must see exactly its own data.
#[test]
fn concurrent_use_of_one_device_keeps_every_buffer_intact() {
    for dev in common::devices() {
        let shared: Vec<f32> = (0..4096).map(|i| i as f32).collect();
        let sbuf = DeviceBuffer::from_host(&dev, &shared).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let (dev, sbuf, shared) = (&dev, &sbuf, &shared);
                s.spawn(move || {
                    for it in 0..25u32 {
                        let val = (t * 1000 + it) as f32;
                        let n = 1000 + 37 * it as usize;
                        let mut mine = DeviceBuffer::from_host(dev, &vec![val; n]).unwrap();
                        let mut copy = DeviceBuffer::<f32>::alloc(dev, n).unwrap();
                        copy.copy_from(mine.as_view()).unwrap();
                        mine.write(&vec![-val; n]).unwrap();
                        assert!(copy.to_host().unwrap().iter().all(|&x| x == val), "thread {t} iteration {it}: copy");
                        assert!(mine.to_host().unwrap().iter().all(|&x| x == -val), "thread {t} iteration {it}: write");
                        assert_eq!(&sbuf.to_host().unwrap(), shared, "thread {t}: shared buffer");
                    }
                });
            }
        });
    }
}
