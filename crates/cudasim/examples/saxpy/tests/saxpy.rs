//! The example kernel on the simulator against the same formula on the host.

#[test]
fn saxpy_matches_host() {
    let dev = cudasim_example_saxpy::device();
    let n = 1000; // not a multiple of the block size: the tail threads must stay in bounds
    let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 7.0).collect();
    let mut y: Vec<f32> = (0..n).map(|i| (i % 13) as f32).collect();
    let want: Vec<f32> = x.iter().zip(&y).map(|(&x, &y)| 2.5f32.mul_add(x, y)).collect();
    cudasim_example_saxpy::saxpy(&dev, 2.5, &x, &mut y).unwrap();
    // g++ may contract a*x+y into an FMA or not: allow one rounding of difference.
    for i in 0..n {
        assert!((y[i] - want[i]).abs() <= f32::EPSILON * want[i].abs().max(1.0), "i={i}: {} vs {}", y[i], want[i]);
    }
    assert_eq!(dev.live_allocations(), 0);
}
