//! Typed errors of the kernel crate. Library code never panics on user input: every shape, length,
//! dtype, device or launch problem comes back as one of these, naming what was wrong.

/// Every error `hyena-kernels` can return.
#[derive(Debug, thiserror::Error)]
pub enum HyenaError {
    /// A tensor or buffer does not have the shape an operation needs.
    #[error("shape mismatch for `{what}`: expected {expected}, got {got}")]
    Shape {
        /// The tensor or buffer.
        what: String,
        /// The shape it needs.
        expected: String,
        /// The shape it has.
        got: String,
    },
    /// A sequence length is out of range (zero, above `l_max`, above a kernel path's limit, …).
    #[error("invalid length: {0}")]
    Length(String),
    /// A sequence length above the limit of the path that would run it.
    #[error("invalid length: {what}: L = {len} exceeds the limit of {limit}")]
    TooLong {
        /// The operation and path whose limit is exceeded.
        what: String,
        /// The length asked for.
        len: usize,
        /// The longest length it takes.
        limit: usize,
    },
    /// Any other invalid argument (zero sizes, NaN where a finite value is required, …).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A dtype an operation or file does not support.
    #[error("unsupported dtype: {0}")]
    Dtype(String),
    /// No CUDA driver / device could be opened (never a panic).
    #[error("no CUDA device available: {0}")]
    NoDevice(String),
    /// A device kind this build does not include: the Cargo feature that adds it is off.
    #[error("built without feature `{feature}`")]
    NotCompiled {
        /// The Cargo feature of `hyena-kernels` that builds the device (`cuda` or `sim`).
        feature: &'static str,
    },
    /// The kernel was not compiled into this build (feature off, or unknown name).
    #[error("kernel `{0}` is not built into this binary")]
    KernelNotBuilt(String),
    /// A launch asks for more dynamic shared memory than the device allows.
    #[error("kernel `{kernel}` needs {requested} bytes of shared memory; the device allows {limit}")]
    SharedMemory {
        /// The kernel's entry point.
        kernel: String,
        /// Bytes the launch asks for.
        requested: usize,
        /// Bytes the device allows one block.
        limit: usize,
    },
    /// A device buffer is too short, misaligned, or belongs to another device.
    #[error("buffer `{name}`: {problem}")]
    Buffer {
        /// The buffer (the argument's name).
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An error reported by the CUDA driver, cuBLAS or the simulator.
    #[error("device error: {0}")]
    Device(String),
    /// A buffer whose size comes from the caller could not be allocated (more bytes than the
    /// address space or the allocator allows). `bytes` is exact even when it exceeds `usize`.
    #[error("cannot allocate {bytes} bytes for `{what}`")]
    Alloc {
        /// What the buffer was for.
        what: String,
        /// The bytes asked for.
        bytes: u128,
    },
    /// A kernel broke a rule the simulator checks (an out-of-bounds access, a data race, a
    /// divergent barrier, …): the launch was abandoned at the faulty access.
    #[cfg(feature = "sim")]
    #[error("device error: simulator: kernel `{kernel}`: {}: {message}", kind.label())]
    SimViolation {
        /// The kernel's entry point.
        kernel: String,
        /// What it broke.
        kind: crate::device::sim::SimViolation,
        /// Where (thread, block, address) and the details.
        message: String,
    },
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, HyenaError>;

impl HyenaError {
    /// Convenience constructor for [`HyenaError::Shape`].
    pub fn shape(what: impl Into<String>, expected: impl std::fmt::Display, got: impl std::fmt::Display) -> Self {
        HyenaError::Shape {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }
}

/// Return a [`HyenaError::Shape`] unless `got == expected` (lengths of flat buffers).
pub fn check_len(what: &str, got: usize, expected: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(HyenaError::shape(what, format!("{expected} elements"), format!("{got} elements")))
    }
}

/// The number of elements of a shape (the product of `dims`), or a [`HyenaError::Invalid`]
/// naming `what` when it does not fit in `usize`. Every size derived from caller input goes
/// through this (or `checked_mul`), never through a plain `*` that could wrap or panic.
pub fn shape_len(what: &str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| HyenaError::Invalid(format!("{what}: the shape {dims:?} has more elements than fit in usize")))
}

/// A vector of `n` copies of `value`, or a [`HyenaError::Alloc`] naming `what` when the
/// allocation fails. Every buffer whose length comes from caller input (a sequence length, a
/// dimension, a product of them) is allocated through this: `vec![value; n]` aborts the process
/// when the allocator refuses, `try_reserve_exact` reports it.
///
/// With Linux's default overcommit, a request larger than the address space (2⁴⁷ bytes with
/// 4-level page tables) or than RAM + swap fails here; smaller ones succeed lazily.
pub fn try_vec<T: Clone>(what: &str, n: usize, value: T) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| alloc_error::<T>(what, n))?;
    v.resize(n, value);
    Ok(v)
}

/// Check that `n` elements of `T` could be allocated right now, without keeping them: for
/// buffers that a library allocates internally with no fallible API (an FFT plan's twiddles).
pub fn try_alloc_probe<T>(what: &str, n: usize) -> Result<()> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(n).map_err(|_| alloc_error::<T>(what, n))
}

fn alloc_error<T>(what: &str, n: usize) -> HyenaError {
    HyenaError::Alloc { what: what.to_string(), bytes: n as u128 * std::mem::size_of::<T>() as u128 }
}
