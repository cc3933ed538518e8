//! Devices that wrap another device and intercept some of its operations (timing, counting,
//! recording), written once.
//!
//! A wrapper implements [`Wrapper`]: only [`Wrapper::inner`] is required, every other method
//! forwards to the inner device by default, and the blanket `impl<W: Wrapper> Device for W` makes
//! the wrapper a [`Device`]. So a wrapper states only what it intercepts, and a method added to
//! [`Device`] later is forwarded by every wrapper without touching it (a hand-written wrapper
//! would silently fall back to the trait's default instead: [`Device::set_tf32`] would refuse,
//! [`Device::time_ms`] would time on the host clock instead of with CUDA events).
//!
//! ```
//! # #[cfg(feature = "sim")] {
//! use hyena_kernels::device::{sim::SimDevice, wrap::Wrapper, Device, DeviceBuffer};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! /// Counts synchronisations; everything else goes straight to the inner device.
//! struct CountSyncs {
//!     inner: Arc<dyn Device>,
//!     syncs: AtomicUsize,
//! }
//! impl Wrapper for CountSyncs {
//!     fn inner(&self) -> &dyn Device {
//!         &*self.inner
//!     }
//!     fn synchronize(&self) -> hyena_kernels::Result<()> {
//!         self.syncs.fetch_add(1, Ordering::Relaxed);
//!         self.inner.synchronize()
//!     }
//! }
//!
//! let w = Arc::new(CountSyncs { inner: Arc::new(SimDevice::new()), syncs: AtomicUsize::new(0) });
//! let dev: Arc<dyn Device> = w.clone();
//! let buf = DeviceBuffer::from_host(&dev, &[1.0f32, 2.0]).unwrap();
//! dev.synchronize().unwrap();
//! assert_eq!(buf.to_host().unwrap(), vec![1.0, 2.0]);
//! assert_eq!(w.syncs.load(Ordering::Relaxed), 1);
//! # }
//! ```
//!
//! The method names are those of [`Device`]; on a concrete wrapper type with both traits in scope,
//! call them through `Arc<dyn Device>` (or `Device::name(&w)`) to avoid the ambiguity.

use super::{Device, DeviceKind, GemmSpec, LaunchConfig};
use crate::error::Result;

/// A [`Device`] built on another one; see the module docs. Every method but [`Wrapper::inner`]
/// forwards to the inner device unless overridden, under the same contracts as the [`Device`]
/// method of the same name (the `unsafe` ones included: an override that forwards must keep the
/// caller's contract, and one that does not forward must not touch the memory).
pub trait Wrapper: Send + Sync {
    /// The device underneath.
    fn inner(&self) -> &dyn Device;

    /// [`Device::kind`].
    fn kind(&self) -> DeviceKind {
        self.inner().kind()
    }
    /// [`Device::name`].
    fn name(&self) -> String {
        self.inner().name()
    }
    /// [`Device::max_shared_bytes`].
    fn max_shared_bytes(&self) -> usize {
        self.inner().max_shared_bytes()
    }
    /// [`Device::alloc_raw`].
    fn alloc_raw(&self, bytes: usize) -> Result<u64> {
        self.inner().alloc_raw(bytes)
    }
    /// [`Device::free_raw`].
    ///
    /// # Safety
    /// That of [`Device::free_raw`].
    unsafe fn free_raw(&self, addr: u64, bytes: usize) {
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner().free_raw(addr, bytes) }
    }
    /// [`Device::copy_htod_raw`].
    ///
    /// # Safety
    /// That of [`Device::copy_htod_raw`].
    unsafe fn copy_htod_raw(&self, src: &[u8], dst: u64) -> Result<()> {
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner().copy_htod_raw(src, dst) }
    }
    /// [`Device::copy_dtoh_raw`].
    ///
    /// # Safety
    /// That of [`Device::copy_dtoh_raw`].
    unsafe fn copy_dtoh_raw(&self, src: u64, dst: &mut [u8]) -> Result<()> {
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner().copy_dtoh_raw(src, dst) }
    }
    /// [`Device::copy_dtod_raw`].
    ///
    /// # Safety
    /// That of [`Device::copy_dtod_raw`].
    unsafe fn copy_dtod_raw(&self, src: u64, dst: u64, bytes: usize) -> Result<()> {
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner().copy_dtod_raw(src, dst, bytes) }
    }
    /// [`Device::zero_raw`].
    ///
    /// # Safety
    /// That of [`Device::zero_raw`].
    unsafe fn zero_raw(&self, dst: u64, bytes: usize) -> Result<()> {
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner().zero_raw(dst, bytes) }
    }
    /// [`Device::launch_raw`].
    ///
    /// # Safety
    /// That of [`Device::launch_raw`].
    unsafe fn launch_raw(&self, name: &str, cfg: LaunchConfig, params: &[u8]) -> Result<()> {
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner().launch_raw(name, cfg, params) }
    }
    /// [`Device::gemm`].
    ///
    /// # Safety
    /// That of [`Device::gemm`].
    unsafe fn gemm(&self, spec: &GemmSpec) -> Result<()> {
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner().gemm(spec) }
    }
    /// [`Device::set_tf32`].
    fn set_tf32(&self, on: bool) -> Result<()> {
        self.inner().set_tf32(on)
    }
    /// [`Device::tf32`].
    fn tf32(&self) -> bool {
        self.inner().tf32()
    }
    /// [`Device::synchronize`].
    fn synchronize(&self) -> Result<()> {
        self.inner().synchronize()
    }
    /// [`Device::time_ms`] (the inner device's clock: CUDA events on a GPU). The work is queued
    /// through `work`, i.e. through whatever the caller calls, normally this wrapper.
    fn time_ms(&self, work: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
        self.inner().time_ms(work)
    }
}

impl<W: Wrapper> Device for W {
    fn kind(&self) -> DeviceKind {
        Wrapper::kind(self)
    }
    fn name(&self) -> String {
        Wrapper::name(self)
    }
    fn max_shared_bytes(&self) -> usize {
        Wrapper::max_shared_bytes(self)
    }
    fn alloc_raw(&self, bytes: usize) -> Result<u64> {
        Wrapper::alloc_raw(self, bytes)
    }
    unsafe fn free_raw(&self, addr: u64, bytes: usize) {
        // SAFETY (every method below): the same contract, passed on.
        unsafe { Wrapper::free_raw(self, addr, bytes) }
    }
    unsafe fn copy_htod_raw(&self, src: &[u8], dst: u64) -> Result<()> {
        unsafe { Wrapper::copy_htod_raw(self, src, dst) }
    }
    unsafe fn copy_dtoh_raw(&self, src: u64, dst: &mut [u8]) -> Result<()> {
        unsafe { Wrapper::copy_dtoh_raw(self, src, dst) }
    }
    unsafe fn copy_dtod_raw(&self, src: u64, dst: u64, bytes: usize) -> Result<()> {
        unsafe { Wrapper::copy_dtod_raw(self, src, dst, bytes) }
    }
    unsafe fn zero_raw(&self, dst: u64, bytes: usize) -> Result<()> {
        unsafe { Wrapper::zero_raw(self, dst, bytes) }
    }
    unsafe fn launch_raw(&self, name: &str, cfg: LaunchConfig, params: &[u8]) -> Result<()> {
        unsafe { Wrapper::launch_raw(self, name, cfg, params) }
    }
    unsafe fn gemm(&self, spec: &GemmSpec) -> Result<()> {
        unsafe { Wrapper::gemm(self, spec) }
    }
    fn set_tf32(&self, on: bool) -> Result<()> {
        Wrapper::set_tf32(self, on)
    }
    fn tf32(&self) -> bool {
        Wrapper::tf32(self)
    }
    fn synchronize(&self) -> Result<()> {
        Wrapper::synchronize(self)
    }
    fn time_ms(&self, work: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
        Wrapper::time_ms(self, work)
    }
}
