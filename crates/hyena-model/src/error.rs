//! Typed errors of the model crate: checkpoint, configuration and kernel problems, each naming
//! the tensor, key or file at fault.

use hyena_kernels::HyenaError;

/// Every error `hyena-model` returns.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// An error from the kernel crate (shapes, lengths, devices).
    #[error(transparent)]
    Kernel(#[from] HyenaError),
    /// A tensor required by the model is absent from a checkpoint or input file.
    #[error("missing tensor `{0}`")]
    MissingTensor(String),
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` has shape {got:?}, expected {expected:?}")]
    TensorShape {
        /// The tensor.
        name: String,
        /// The shape the model needs.
        expected: Vec<usize>,
        /// The shape it has.
        got: Vec<usize>,
    },
    /// A tensor has a dtype the model cannot use.
    #[error("tensor `{name}` has unsupported dtype {dtype}")]
    TensorDtype {
        /// The tensor.
        name: String,
        /// Its dtype, as stored.
        dtype: String,
    },
    /// A tensor holds NaN or infinite values.
    #[error("tensor `{name}` holds a non-finite value at element {index}")]
    NonFinite {
        /// The tensor.
        name: String,
        /// The first non-finite element (flat index).
        index: usize,
    },
    /// A tensor in a checkpoint matches nothing the model knows.
    #[error("unknown tensor `{0}` in checkpoint")]
    UnknownTensor(String),
    /// The file is not a valid safetensors file (truncated, bad header, …).
    #[error("invalid safetensors file {path}: {problem}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A tensor's bytes (or the metadata) do not match the CRC-32 stored in the file: the file
    /// was corrupted after it was written.
    #[error("{path}: checksum mismatch in `{name}`: the file is corrupted")]
    Checksum {
        /// The file.
        path: String,
        /// The tensor (or `__metadata__`) whose bytes do not match.
        name: String,
    },
    /// A checkpoint was not written because the state holds a non-finite value; the previous
    /// checkpoint at `path` (if any) is kept.
    #[error("{path}: checkpoint of step {step} not written: `{name}` holds a non-finite value at element {index}; the previous checkpoint is kept")]
    CheckpointNotWritten {
        /// The checkpoint file.
        path: String,
        /// The optimizer step of the state.
        step: u64,
        /// The tensor holding the value.
        name: String,
        /// The first non-finite element (flat index).
        index: usize,
    },
    /// A size computed from the input overflows or exceeds what this library allocates.
    #[error("{what} is too large: {detail}")]
    TooLarge {
        /// What was being sized.
        what: String,
        /// The sizes and the limit.
        detail: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration is missing a field or holds an invalid value.
    #[error("configuration: {0}")]
    Config(String),
    /// A sequence is longer than the model supports.
    #[error("sequence length {l} exceeds l_max {l_max}")]
    TooLong {
        /// The sequence length asked for.
        l: usize,
        /// The longest the model takes.
        l_max: usize,
    },
}

/// Result alias of the model crate.
pub type Result<T> = std::result::Result<T, ModelError>;
