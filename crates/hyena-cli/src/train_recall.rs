//! `hyena train-recall`: train a Hyena LM on the associative recall task of the Hyena paper
//! (safari's `icl_synthetics`, `assoc_recall`) on the CPU, with AdamW (safari's parameter groups),
//! linear warmup + cosine decay, global-norm clipping, a progress bar, a JSON-lines log, periodic
//! test accuracy (final position, held-out set) and resumable checkpoints.
//!
//! Loss: next-token cross-entropy on every position of the training sequences, as in safari's
//! setup (its training targets are not masked for assoc_recall); accuracy: the value predicted at
//! the final (query) position of the held-out sequences.

use crate::backend::{on_device, Backend, Precision};
use clap::Args;
use hyena_kernels::Scalar;
use hyena_model::layers::argmax_rows;
use hyena_model::recall::{RecallData, RecallTask};
use hyena_model::lm::Mixer;
use hyena_model::train::{OptimConfig, TrainRng, TrainState};
use hyena_model::{HyenaLm, LmConfig, ModelError};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct TrainRecallArgs {
    /// Vocabulary size, special tokens (`=>`, `.`) included, as safari's `vocab_size`.
    #[arg(long, default_value_t = 10)]
    vocab: usize,
    /// Length of the key-value part (safari's `input_seq_len`); the model sees seq_len + 2 tokens.
    #[arg(long, default_value_t = 256)]
    seq_len: usize,
    /// Model width.
    #[arg(long, default_value_t = 32)]
    d_model: usize,
    /// Number of blocks.
    #[arg(long, default_value_t = 2)]
    n_layer: usize,
    /// MLP width (default 2·d_model).
    #[arg(long)]
    d_inner: Option<usize>,
    /// Width of the implicit filter FFN.
    #[arg(long, default_value_t = 32)]
    filter_order: usize,
    /// Positional-embedding width of the filter (odd, ≥ 3).
    #[arg(long, default_value_t = 5)]
    emb_dim: usize,
    /// Initial Sin frequency of the filter.
    #[arg(long, default_value_t = 1.0)]
    w: f64,
    /// Optimizer updates.
    #[arg(long, default_value_t = 2200)]
    steps: u64,
    /// Sequences per update.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Peak learning rate (default group; safari's assoc-recall config uses 5e-4 for far longer runs).
    #[arg(long, default_value_t = 4e-3)]
    lr: f64,
    /// Weight decay (default group; biases and LayerNorms get none).
    #[arg(long, default_value_t = 0.1)]
    weight_decay: f64,
    /// Learning rate of the filter FFN (HyenaFilter `lr`; safari's default is 1e-3).
    #[arg(long, default_value_t = 4e-3)]
    lr_filter: f64,
    /// Learning rate of the filter's positional embedding (0 makes it a buffer).
    #[arg(long, default_value_t = 1e-5)]
    lr_pos_emb: f64,
    /// Warmup updates (linear from lr/warmup to lr), then cosine decay to 0 at `--steps`.
    #[arg(long, default_value_t = 100)]
    warmup: u64,
    /// Global gradient-norm clip (0: off).
    #[arg(long, default_value_t = 1.0)]
    grad_clip: f64,
    /// Seed of the data, the initialisation and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Training sequences (safari: 5000).
    #[arg(long, default_value_t = 5000)]
    train_examples: usize,
    /// Held-out sequences for the accuracy (safari: 500).
    #[arg(long, default_value_t = 500)]
    test_examples: usize,
    /// Evaluate every this many updates (and at the end).
    #[arg(long, default_value_t = 200)]
    eval_every: u64,
    /// Stop once the test accuracy reaches this value (e.g. 0.99); default: run all steps.
    #[arg(long)]
    stop_at_acc: Option<f64>,
    /// Checkpoint file (safetensors), written atomically every `--checkpoint-every` updates and at the end.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    checkpoint_every: u64,
    /// Resume from `--checkpoint` when it exists.
    #[arg(long)]
    resume: bool,
    /// Stop after this many updates in this invocation (checkpoint written), e.g. to train in
    /// slices with `--resume`; the schedule still runs to `--steps`.
    #[arg(long)]
    max_updates: Option<u64>,
    /// JSON-lines log file (one object per logged update and per evaluation).
    #[arg(long, default_value = "train_recall.jsonl")]
    log: PathBuf,
    /// Log every this many updates.
    #[arg(long, default_value_t = 10)]
    log_every: u64,
    /// Arithmetic precision of the weights, optimizer and the CPU layers.
    #[arg(long, value_enum, default_value = "f32")]
    precision: Precision,
    /// Where the Hyena operators run: the CPU, or the CUDA device abstraction (`cuda`: a GPU, build
    /// feature `cuda`; `sim`: the SIMT simulator, build feature `sim`, tiny runs only), f32
    /// storage; embeddings, LayerNorms, MLPs and the optimizer stay on the CPU.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

/// The settings that must match when resuming.
fn run_identity(a: &TrainRecallArgs) -> String {
    format!(
        "vocab={} seq_len={} d_model={} n_layer={} d_inner={:?} filter_order={} emb_dim={} w={} steps={} batch={} lr={} wd={} lr_filter={} lr_pos_emb={} warmup={} clip={} seed={} train={} test={}",
        a.vocab, a.seq_len, a.d_model, a.n_layer, a.d_inner, a.filter_order, a.emb_dim, a.w, a.steps, a.batch, a.lr,
        a.weight_decay, a.lr_filter, a.lr_pos_emb, a.warmup, a.grad_clip, a.seed, a.train_examples, a.test_examples
    )
}

pub fn train_recall(args: TrainRecallArgs) -> Result<(), Box<dyn std::error::Error>> {
    match args.precision {
        Precision::F32 => run::<f32>(&args)?,
        Precision::F64 => run::<f64>(&args)?,
    }
    Ok(())
}

/// Accuracy of the prediction at the last position over `data` (targets only there).
fn test_accuracy<T: Scalar, M: Mixer<T>>(lm: &HyenaLm<T, M>, data: &RecallData, batch: usize) -> Result<f64, ModelError> {
    let mut correct = 0usize;
    let rows = lm.vocab_rows;
    let idx: Vec<usize> = (0..data.n).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let (ids, tg) = data.gather(chunk)?;
        let (out, _) = lm.forward(&ids, chunk.len(), data.len)?;
        let pred = argmax_rows(&out.logits, rows);
        for (k, _) in chunk.iter().enumerate() {
            let pos = k * data.len + data.len - 1;
            if pred[pos] as i64 == tg[pos] {
                correct += 1;
            }
        }
    }
    Ok(correct as f64 / data.n.max(1) as f64)
}

/// Bytes of physical memory (Linux `/proc/meminfo`), if known.
fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Check every flag before anything is allocated or written: each error names the flag.
fn validate_args(a: &TrainRecallArgs, elem_bytes: usize) -> Result<(), ModelError> {
    let bad = |m: String| Err(ModelError::Config(m));
    for (flag, v) in [("--log-every", a.log_every), ("--eval-every", a.eval_every), ("--checkpoint-every", a.checkpoint_every), ("--steps", a.steps)] {
        if v == 0 {
            return bad(format!("{flag} must be at least 1"));
        }
    }
    if a.max_updates == Some(0) {
        return bad("--max-updates must be at least 1".into());
    }
    for (flag, v) in [("--batch", a.batch), ("--train-examples", a.train_examples), ("--test-examples", a.test_examples), ("--d-model", a.d_model), ("--n-layer", a.n_layer), ("--filter-order", a.filter_order)] {
        if v == 0 {
            return bad(format!("{flag} must be at least 1"));
        }
    }
    if a.d_inner == Some(0) {
        return bad("--d-inner must be at least 1".into());
    }
    if a.vocab < 6 {
        return bad(format!("--vocab must be at least 6 (2 special tokens, 2 keys, 2 values), got {}", a.vocab));
    }
    if a.vocab > hyena_model::recall::MAX_VOCAB {
        return bad(format!("--vocab {} is larger than {}", a.vocab, hyena_model::recall::MAX_VOCAB));
    }
    if a.seq_len < 2 || a.seq_len > hyena_model::recall::MAX_SEQ_LEN {
        return bad(format!("--seq-len must be in 2..={}, got {}", hyena_model::recall::MAX_SEQ_LEN, a.seq_len));
    }
    if a.emb_dim < 3 || a.emb_dim % 2 == 0 {
        return bad(format!("--emb-dim must be odd and at least 3, got {}", a.emb_dim));
    }
    for (flag, v) in [("--lr", a.lr), ("--weight-decay", a.weight_decay), ("--lr-filter", a.lr_filter), ("--lr-pos-emb", a.lr_pos_emb), ("--grad-clip", a.grad_clip)] {
        if !v.is_finite() || v < 0.0 {
            return bad(format!("{flag} must be finite and non-negative, got {v}"));
        }
    }
    if !a.w.is_finite() || (elem_bytes == 4 && !(a.w as f32).is_finite()) {
        return bad(format!("--w must be finite, got {}", a.w));
    }
    if let Some(t) = a.stop_at_acc {
        if !(0.0..=1.0).contains(&t) {
            return bad(format!("--stop-at-acc must be in [0, 1], got {t}"));
        }
    }
    // Sizes: parameters (weights, gradients, two moments), the data sets and one step's
    // activations, with checked arithmetic; refused when over the physical memory.
    let len = 2 * (a.seq_len / 2) + 2;
    let d_inner = a.d_inner.unwrap_or(a.d_model.saturating_mul(2));
    let cfg = LmConfig { d_model: a.d_model, n_layer: a.n_layer, d_inner, vocab_size: a.vocab, l_max: len, filter_order: a.filter_order, emb_dim: a.emb_dim, ..LmConfig::default() };
    let too_large = |detail: String| ModelError::TooLarge { what: "the model and data of --vocab/--seq-len/--d-model/--n-layer/--d-inner/--batch/--train-examples".into(), detail };
    let params = cfg.param_count().map_err(|e| too_large(e.to_string()))?;
    let m = |x: usize, y: usize| x.checked_mul(y).ok_or_else(|| too_large(format!("{x} × {y} overflows")));
    let examples = a.train_examples.checked_add(a.test_examples).ok_or_else(|| too_large("example count overflows".into()))?;
    // Per token and block: the operator's buffers (in_proj, short conv, recurrence steps, FFT
    // spectra) and the block's norms and MLP; per token: logits and their gradient.
    let order = cfg.order;
    let per_token_block = (6 * (order + 1) + 4 * order + 12).saturating_mul(a.d_model).saturating_add(d_inner.saturating_mul(3));
    let per_token = m(per_token_block, a.n_layer)?.saturating_add(a.vocab.saturating_mul(3));
    let act = m(m(a.batch, len)?, per_token)?;
    let elems = m(params, 4)?.saturating_add(act);
    let bytes = m(elems, elem_bytes)?.saturating_add(m(m(examples, len + 1)?, 16)?);
    if elems > hyena_model::config::MAX_ELEMENTS || physical_memory().is_some_and(|mem| bytes as u64 > mem) {
        return Err(too_large(format!(
            "about {:.1} GiB needed ({params} parameters, {act} activation elements per step, {examples} sequences of {len} tokens), more than this machine has",
            bytes as f64 / (1u64 << 30) as f64
        )));
    }
    // Files: their folders must exist now, not at the first save, and the checkpoint and log
    // must be different files.
    let folder_of = |p: &std::path::Path| p.parent().filter(|d| !d.as_os_str().is_empty()).map(|d| d.to_path_buf()).unwrap_or_else(|| ".".into());
    let mut files = vec![("--log", a.log.clone())];
    if let Some(c) = &a.checkpoint {
        files.push(("--checkpoint", c.clone()));
        if c == &a.log || crate::files::same_file(c, &a.log) {
            return bad(format!("--checkpoint and --log are the same file ({})", c.display()));
        }
        if c.is_dir() {
            return bad(format!("--checkpoint {} is a folder", c.display()));
        }
    } else if a.resume {
        return bad("--resume needs --checkpoint".into());
    }
    for (flag, p) in files {
        let dir = folder_of(&p);
        if !dir.is_dir() {
            return bad(format!("{flag} {}: folder {} does not exist", p.display(), dir.display()));
        }
    }
    Ok(())
}

fn run<T: Scalar>(a: &TrainRecallArgs) -> Result<(), Box<dyn std::error::Error>> {
    validate_args(a, std::mem::size_of::<T>())?;
    let task = RecallTask::new(a.vocab, a.seq_len)?;
    let len = task.model_len();
    // Data: a fixed training and held-out set from the seed (as safari's fixed datasets).
    let mut data_rng = TrainRng::seed(a.seed ^ 0x5EED_DA7A);
    let train = task.generate(a.train_examples, &mut data_rng, true);
    let test = task.generate(a.test_examples, &mut data_rng, false);
    let cfg = LmConfig {
        d_model: a.d_model,
        n_layer: a.n_layer,
        d_inner: a.d_inner.unwrap_or(2 * a.d_model),
        vocab_size: a.vocab,
        pad_vocab_size_multiple: 1,
        l_max: len,
        filter_order: a.filter_order,
        emb_dim: a.emb_dim,
        w: a.w,
        lr_pos_emb: a.lr_pos_emb,
        ..LmConfig::default()
    };
    let ocfg = OptimConfig {
        lr: a.lr,
        weight_decay: a.weight_decay,
        lr_filter: a.lr_filter,
        wd_filter: 0.0,
        lr_pos_emb: a.lr_pos_emb,
        grad_clip: a.grad_clip,
        warmup_steps: a.warmup,
        total_steps: a.steps,
        ..OptimConfig::default()
    };
    ocfg.validate()?;
    let identity = run_identity(a);
    let state: TrainState<T> = match &a.checkpoint {
        Some(p) if a.resume && p.exists() => {
            let s = TrainState::<T>::load(p)?;
            if s.extra.get("run") != Some(&identity) {
                return Err(Box::new(ModelError::Config(format!(
                    "{} was written by a run with other settings:\n  checkpoint: {}\n  this run:   {identity}",
                    p.display(),
                    s.extra.get("run").map(String::as_str).unwrap_or("?")
                ))));
            }
            eprintln!("resuming from {} at step {}", p.display(), s.opt.step);
            s
        }
        _ => {
            let mut init_rng = TrainRng::seed(a.seed);
            let lm = HyenaLm::<T>::init(&cfg, &mut init_rng)?;
            let mut s = TrainState::new(lm, ocfg, a.seed.wrapping_add(1));
            s.extra.insert("run".into(), identity.clone());
            s
        }
    };
    match a.backend.open_for("--backend", "train-recall")? {
        None => train_loop(a, state, &train, &test, &identity, len),
        Some(dev) => train_loop(a, state.map_mixers(|op| on_device(op, &dev))?, &train, &test, &identity, len),
    }
}

fn train_loop<T: Scalar, M: Mixer<T>>(
    a: &TrainRecallArgs,
    mut state: TrainState<T, M>,
    train: &RecallData,
    test: &RecallData,
    identity: &str,
    len: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let n_params: usize = state.model.params().iter().filter(|p| p.kind == hyena_model::operator::ParamKind::Trainable).map(|p| p.data.len()).sum();
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.log)
        .map_err(|e| ModelError::Io { path: a.log.display().to_string(), source: e })?;
    let mut write_log = |v: serde_json::Value| -> Result<(), ModelError> {
        writeln!(log, "{v}").map_err(|e| ModelError::Io { path: a.log.display().to_string(), source: e })
    };
    write_log(serde_json::json!({
        "event": "start", "settings": identity, "precision": T::NAME, "params": n_params, "model_len": len,
        "backend": a.backend.name(),
        "start_step": state.opt.step, "threads": rayon::current_num_threads(),
    }))?;
    let pb = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(a.steps) };
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .map_err(|e| ModelError::Config(e.to_string()))?
            .progress_chars("=> "),
    );
    pb.set_position(state.opt.step);
    let t0 = Instant::now();
    let mut tokens = 0usize;
    let mut last_acc: Option<f64> = None;
    let mut loss_ema: Option<f64> = None;
    let first_step = state.opt.step;
    let save = |state: &TrainState<T, M>| -> Result<(), ModelError> {
        if let Some(p) = &a.checkpoint {
            state.save(p)?;
        }
        Ok(())
    };
    while state.opt.step < a.steps {
        let idx: Vec<usize> = (0..a.batch).map(|_| state.rng.below(train.n as u64) as usize).collect();
        let (ids, tg) = train.gather(&idx)?;
        let (loss, info) = state.train_step(&ids, &tg, a.batch, len)?;
        tokens += a.batch * len;
        let step = state.opt.step;
        loss_ema = Some(match loss_ema {
            None => loss,
            Some(e) => 0.9 * e + 0.1 * loss,
        });
        let secs = t0.elapsed().as_secs_f64();
        let tps = tokens as f64 / secs.max(1e-9);
        if step % a.log_every == 0 || step == a.steps {
            write_log(serde_json::json!({
                "step": step, "loss": loss, "lr": info.lr, "grad_norm": info.grad_norm,
                "tokens_per_s": tps, "elapsed_s": secs,
            }))?;
        }
        let mut stop = false;
        if step % a.eval_every == 0 || step == a.steps {
            let acc = test_accuracy(&state.model, test, a.batch)?;
            last_acc = Some(acc);
            write_log(serde_json::json!({
                "step": step, "test_accuracy": acc, "elapsed_s": t0.elapsed().as_secs_f64(), "loss_ema": loss_ema,
            }))?;
            stop = a.stop_at_acc.is_some_and(|t| acc >= t);
        }
        let acc_s = last_acc.map(|x| format!("{:.1}%", 100.0 * x)).unwrap_or_else(|| "-".into());
        pb.set_position(step);
        pb.set_message(format!("loss {:.4} | test acc {acc_s} | {:.0} tok/s", loss_ema.unwrap_or(loss), tps));
        if step % a.checkpoint_every == 0 {
            save(&state)?;
        }
        if stop || a.max_updates.is_some_and(|m| step - first_step >= m) {
            break;
        }
    }
    save(&state)?;
    pb.finish();
    let secs = t0.elapsed().as_secs_f64();
    let acc = match last_acc {
        Some(x) => x,
        None => test_accuracy(&state.model, test, a.batch)?,
    };
    write_log(serde_json::json!({"event": "end", "step": state.opt.step, "test_accuracy": acc, "elapsed_s": secs}))?;
    eprintln!(
        "step {} | test accuracy {:.2}% ({} held-out sequences, final position) | {:.1} s | {} parameters | {} | backend {:?}",
        state.opt.step,
        100.0 * acc,
        test.n,
        secs,
        n_params,
        T::NAME,
        a.backend
    );
    Ok(())
}
