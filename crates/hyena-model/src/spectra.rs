//! The inference path's filter spectra, kept from one call to the next for the exact filter
//! weights and length that made them.
//!
//! Why: the implicit filter and its spectra depend only on the filter's weights and buffers and
//! on L, not on the input, yet [`crate::operator::HyenaOperator::infer`] computed them on every
//! call: the FFN (f64, with its `sin`) and one real FFT per filter channel were 25–30 % of an
//! inference forward's CPU samples at B = 1, D = 256, L = 1K and 8K (docs/BENCHMARKS.md, "Where
//! the short-length forward goes"). Inference runs one set of weights over many inputs (an LM's
//! layers over every sequence), so each layer's spectra are computed once.
//!
//! An entry is keyed by the bits of every value the spectra depend on (`z[..L]`, `t[..L]`, the
//! FFN layers, the shared frequency, the output weight, the decay rates, the shift and the
//! flags), compared in full on every call (no hashing): a changed weight misses the cache and
//! gets its own spectra, computed as before. The comparison reads ~60 K values at L = 1K, each
//! layer's weights included (the operator's fields are public: nothing else could tell that
//! they changed). The training path ([`crate::operator::HyenaOperator::forward`]) does not use
//! it: its weights change at every step.

use crate::error::Result;
use hyena_kernels::cpu::filter::ImplicitFilter;
use hyena_kernels::Scalar;
use realfft::num_complex::Complex;
use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex};

/// Largest spectra kept (bytes): L ≤ 32K at B = 1, D = 256, order 2 (64 MiB) in f32; the
/// spectra of longer sequences are computed per channel group on every call, as before (there
/// the memory matters more than the filter's ~25 %).
pub const KEEP_BYTES: usize = 64 << 20;

/// Most bytes of spectra kept in all (the most recently used first; older ones are freed).
pub const CACHE_BYTES: usize = 256 << 20;

/// The sizes and scalar settings of the key.
type Header = [u64; 8];

struct Entry {
    ty: TypeId,
    header: Header,
    /// The bits (`as_f64().to_bits()`) of every value of [`parts`], concatenated.
    values: Vec<u64>,
    spectra: Arc<dyn Any + Send + Sync>,
    bytes: usize,
    /// Hands the spectra's buffer to [`crate::pool`] when no caller holds it any more
    /// (monomorphised for the entry's `T`).
    recycle: fn(Arc<dyn Any + Send + Sync>),
}

/// The buffer of `spectra` (a `Vec<Complex<T>>`) back to [`crate::pool`] for the next call's
/// spectra, unless a caller still holds it.
///
/// Why: a dropped entry (a call with other weights, or [`release`]) freed 4 MiB at L = 2K
/// (B = 1, D = 256, order 2, f32), which the next miss allocated and zeroed again: fresh pages
/// each time (the bench's like-for-like `hyena_fwd` misses on every call).
fn recycle<T: Scalar>(spectra: Arc<dyn Any + Send + Sync>) {
    if let Ok(v) = spectra.downcast::<Vec<Complex<T>>>() {
        if let Ok(v) = Arc::try_unwrap(v) {
            crate::pool::give(v);
        }
    }
}

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn header<T: Scalar>(f: &ImplicitFilter<T>, l: usize) -> Header {
    let flags = f.modulate as u64 | (f.normalized as u64) << 1;
    let size = |x: usize| x as u64;
    [size(f.emb_dim), size(f.width), size(f.channels), size(f.layers.len()), size(l), size(std::mem::size_of::<T>()), flags, f.shift.to_bits()]
}

/// Every tensor the spectra of the first `l` positions depend on (`l` ≤ `l_max`: checked by the
/// caller through [`ImplicitFilter::check_length`]).
fn parts<T: Scalar>(f: &ImplicitFilter<T>, l: usize) -> Vec<&[T]> {
    let mut v: Vec<&[T]> = vec![&f.z[..l * f.emb_dim], &f.t[..l]];
    for (w, b) in &f.layers {
        v.push(w);
        v.push(b);
    }
    v.extend([&f.freq[..], &f.out_weight, &f.deltas]);
    v
}

/// Whether `a` has exactly the bits `k` (no early exit: a branch-free loop the compiler
/// vectorises).
fn same_bits<T: Scalar>(a: &[T], k: &[u64]) -> bool {
    a.len() == k.len() && a.iter().zip(k).fold(true, |same, (x, &y)| same & (x.as_f64().to_bits() == y))
}

fn matches<T: Scalar>(e: &Entry, header: &Header, parts: &[&[T]]) -> bool {
    if e.ty != TypeId::of::<T>() || e.header != *header || e.values.len() != parts.iter().map(|p| p.len()).sum::<usize>() {
        return false;
    }
    let mut off = 0;
    parts.iter().all(|p| {
        let same = same_bits(p, &e.values[off..off + p.len()]);
        off += p.len();
        same
    })
}

/// Whether spectra of `elements` complex values are small enough to be kept.
pub(crate) fn keeps<T: Scalar>(elements: usize) -> bool {
    elements.saturating_mul(std::mem::size_of::<Complex<T>>()) <= KEEP_BYTES
}

/// The spectra of filter `f` at length `l`: the kept ones when `f` and `l` are those that made
/// them, else `compute()`'s, kept for the next call when [`keeps`] says so.
pub(crate) fn get_or_compute<T: Scalar>(
    f: &ImplicitFilter<T>,
    l: usize,
    compute: impl FnOnce() -> Result<Vec<Complex<T>>>,
) -> Result<Arc<Vec<Complex<T>>>> {
    let head = header(f, l);
    let ps = parts(f, l);
    {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = cache.iter().position(|e| matches(e, &head, &ps)) {
            let e = cache.remove(i);
            let hit = e.spectra.clone().downcast::<Vec<Complex<T>>>().ok();
            cache.insert(0, e);
            if let Some(s) = hit {
                return Ok(s);
            }
        }
    }
    let spectra = Arc::new(compute()?);
    if keeps::<T>(spectra.len()) {
        let bytes = spectra.len() * std::mem::size_of::<Complex<T>>();
        let values = ps.iter().flat_map(|p| p.iter().map(|x| x.as_f64().to_bits())).collect();
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(0, Entry { ty: TypeId::of::<T>(), header: head, values, spectra: spectra.clone(), bytes, recycle: recycle::<T> });
        let mut total = 0;
        let mut dropped = Vec::new();
        cache.retain_mut(|e| {
            total += e.bytes;
            let keep = total <= CACHE_BYTES;
            if !keep {
                dropped.push((e.recycle, std::mem::replace(&mut e.spectra, Arc::new(()))));
            }
            keep
        });
        drop(cache);
        dropped.into_iter().for_each(|(r, s)| r(s));
    }
    Ok(spectra)
}

/// Free every kept spectrum ([`crate::pool::release`] calls it too). The next
/// [`crate::operator::HyenaOperator::infer`] computes its filter and spectra again, as a call with
/// new weights does (the bench times its like-for-like `hyena_fwd` column so).
///
/// Their buffers go to [`crate::pool`] (bounded; [`crate::pool::release`] frees them after this).
pub fn release() {
    let entries = std::mem::take(&mut *CACHE.lock().unwrap_or_else(|e| e.into_inner()));
    entries.into_iter().for_each(|e| (e.recycle)(e.spectra));
}

/// Bytes of spectra kept now.
pub fn held_bytes() -> usize {
    CACHE.lock().map(|c| c.iter().map(|e| e.bytes).sum()).unwrap_or(0)
}
