//! The associative recall task of the Hyena paper, generated as safari's `icl_synthetics`
//! (`copy_method: assoc_recall`, `num_keys: 1`, `allow_dot: False`).
//!
//! The vocabulary has `vocab_size` tokens: `vocab_size − 2` ordinary ones (`"0"`, `"1"`, …) plus the
//! copy prefix `"=>"` and the no-op `"."`, ids assigned in sorted string order as safari does. The
//! first half of the ordinary tokens (sorted) are keys, the second half values. Every sequence draws
//! its own key→value map, then `input_seq_len / 2` random (key, value) pairs, then `=> k v` for a
//! key that occurred. The model sees all tokens but the last (length `input_seq_len + 2` for even
//! `input_seq_len`); training targets are the next tokens at every position (safari trains the LM
//! loss on all positions), test targets only the last position (the value), as in safari.

use crate::error::{ModelError, Result};
use crate::layers::IGNORE_INDEX;
use crate::train::TrainRng;

/// Largest vocabulary [`RecallTask::new`] builds.
pub const MAX_VOCAB: usize = 1 << 24;
/// Longest `input_seq_len` [`RecallTask::new`] accepts (the model length stays far from overflow).
pub const MAX_SEQ_LEN: usize = 1 << 32;

/// The task's vocabulary and sizes.
#[derive(Clone, Debug)]
pub struct RecallTask {
    /// Tokens in the vocabulary, the two special ones included.
    pub vocab_size: usize,
    /// Length of the key-value part of a sequence.
    pub input_seq_len: usize,
    /// Token strings by id.
    pub tokens: Vec<String>,
    /// Ids of the key tokens.
    pub keys: Vec<i64>,
    /// Ids of the value tokens.
    pub values: Vec<i64>,
    /// Id of the copy prefix `"=>"`, followed by the queried key.
    pub copy_prefix: i64,
    /// Id of the no-op `"."`.
    pub noop: i64,
}

/// A batch of examples: `inputs [n, len]`, `targets [n, len]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RecallData {
    /// Number of examples.
    pub n: usize,
    /// Tokens per example (what the model sees).
    pub len: usize,
    /// Token ids, `[n, len]`.
    pub inputs: Vec<i64>,
    /// The next token at each position, or the ignore index where nothing is scored; `[n, len]`.
    pub targets: Vec<i64>,
}

impl RecallTask {
    /// The vocabulary of `vocab_size` tokens (at most [`MAX_VOCAB`], at least 6) for sequences of
    /// `input_seq_len` key-value tokens (2..=[`MAX_SEQ_LEN`]).
    pub fn new(vocab_size: usize, input_seq_len: usize) -> Result<Self> {
        if vocab_size < 6 {
            return Err(ModelError::Config(format!("associative recall needs vocab_size ≥ 6 (2 special tokens, 2 keys, 2 values), got {vocab_size}")));
        }
        if input_seq_len < 2 {
            return Err(ModelError::Config(format!("input_seq_len must be at least 2, got {input_seq_len}")));
        }
        // The vocabulary is built as strings and a sequence as one Vec: bound both.
        if vocab_size > MAX_VOCAB {
            return Err(ModelError::TooLarge { what: "vocab_size".into(), detail: format!("{vocab_size} > {MAX_VOCAB}") });
        }
        if input_seq_len > MAX_SEQ_LEN {
            return Err(ModelError::TooLarge { what: "input_seq_len".into(), detail: format!("{input_seq_len} > {MAX_SEQ_LEN}") });
        }
        let n = vocab_size - 2;
        let mut ordinary: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        ordinary.sort();
        let mut tokens = ordinary.clone();
        tokens.push("=>".into());
        tokens.push(".".into());
        tokens.sort();
        let id = |s: &str| tokens.iter().position(|t| t == s).unwrap_or(0) as i64;
        let keys = ordinary[..n / 2].iter().map(|s| id(s)).collect();
        let values = ordinary[n / 2..].iter().map(|s| id(s)).collect();
        let (copy_prefix, noop) = (id("=>"), id("."));
        Ok(RecallTask { vocab_size, input_seq_len, tokens, keys, values, copy_prefix, noop })
    }

    /// Model input length: all tokens of a sequence but the last.
    pub fn model_len(&self) -> usize {
        2 * (self.input_seq_len / 2) + 2
    }

    /// One full token sequence (length `model_len() + 1`).
    pub fn sequence(&self, rng: &mut TrainRng) -> Vec<i64> {
        let nk = self.keys.len() as u64;
        let map: Vec<i64> = (0..nk).map(|_| self.values[rng.below(self.values.len() as u64) as usize]).collect();
        let mut present = vec![false; nk as usize];
        let mut seq = Vec::with_capacity(self.model_len() + 1);
        for _ in 0..self.input_seq_len / 2 {
            let k = rng.below(nk) as usize;
            present[k] = true;
            seq.push(self.keys[k]);
            seq.push(map[k]);
        }
        let present_keys: Vec<usize> = (0..nk as usize).filter(|&k| present[k]).collect();
        let mut k = rng.below(nk) as usize;
        if !present[k] {
            k = present_keys[rng.below(present_keys.len() as u64) as usize];
        }
        seq.push(self.copy_prefix);
        seq.push(self.keys[k]);
        seq.push(map[k]);
        seq
    }

    /// `n` examples; `all_positions`: targets at every position (training), else only the last
    /// (test).
    pub fn generate(&self, n: usize, rng: &mut TrainRng, all_positions: bool) -> RecallData {
        let len = self.model_len();
        let mut inputs = Vec::with_capacity(n * len);
        let mut targets = Vec::with_capacity(n * len);
        for _ in 0..n {
            let s = self.sequence(rng);
            inputs.extend_from_slice(&s[..len]);
            if all_positions {
                targets.extend_from_slice(&s[1..]);
            } else {
                targets.extend(std::iter::repeat_n(IGNORE_INDEX, len - 1));
                targets.push(s[len]);
            }
        }
        RecallData { n, len, inputs, targets }
    }
}

impl RecallData {
    /// Examples `idx` as a batch; an index past the data is an error.
    pub fn gather(&self, idx: &[usize]) -> Result<(Vec<i64>, Vec<i64>)> {
        let mut i = Vec::with_capacity(idx.len().saturating_mul(self.len));
        let mut t = Vec::with_capacity(idx.len().saturating_mul(self.len));
        for &k in idx {
            let range = k.checked_mul(self.len).and_then(|s| Some(s..s.checked_add(self.len)?));
            let rows = range.and_then(|r| Some((self.inputs.get(r.clone())?, self.targets.get(r)?)));
            let Some((ri, rt)) = rows.filter(|_| k < self.n) else {
                return Err(ModelError::Config(format!("example {k} is outside the data set's 0..{}", self.n)));
            };
            i.extend_from_slice(ri);
            t.extend_from_slice(rt);
        }
        Ok((i, t))
    }
}
