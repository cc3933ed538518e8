//! SASS listings (`nvdisasm -gi -c`) and the executed-instruction estimate.
//!
//! # The listing
//! `nvdisasm -gi -c kernel.cubin` prints, per function (`//--- .text.NAME ---`), every instruction
//! (`/*0040*/ @!P0 BRA `(.L_x_0) ;`) under groups of source annotations:
//! ```text
//! //## File "filter.cu", line 89 inlined at "filter.cu", line 194
//! //## File "filter.cu", line 194 inlined at "filter.cu", line 427
//! //## File "filter.cu", line 427
//! ```
//! The first entry of each annotation line, top to bottom, is the location chain of the
//! instructions that follow (innermost line first, then the call sites it was inlined into). An
//! annotation stays in force until the next group.
//!
//! # The estimate (method)
//! Inputs: one function's SASS and, per source location chain, how many times a warp executed it
//! ([`LineExec`], e.g. a simulator's per-line counts; a line executed by any lane of a warp counts
//! once for that warp, as SIMT issue does) plus the number of warps that entered the kernel.
//! 1. **Join.** Source files are compared by file name (host and device compilers see different
//!    paths for the same file). Leading frames of a SASS chain in files the counts never mention
//!    (CUDA headers: `sincospif`, the IEEE division) are dropped, so library code inherits the
//!    count of the kernel line that called it (the whole count: chains equal once those frames
//!    are dropped are one statement, not copies to split the count between). A SASS chain then
//!    matches the counted chains with the same innermost line and the longest run of equal
//!    inlined-at call sites; ties are summed (the host compiler inlined a helper into several
//!    places the device code shares). When several
//!    SASS chains match one counted chain equally well (the device compiler inlined a helper in
//!    places the host compiler did not tell apart), that count is split between them by their
//!    call sites, the frames past the matched depth: a copy whose call site at some depth the
//!    host never executed (no counted chain passes through it: another template instance, the
//!    untaken arm of a runtime `switch`) gets nothing and is *unrun*; the others share in
//!    proportion to their call sites' executions (evenly where one is unknown). A copy is also
//!    unrun when every counted chain it matches best parts from it at one call site only, with
//!    the same callers beyond (the host ran the line through the other arm), and no counted chain
//!    passes through its whole call path: the host's line tables may credit a little of the
//!    taken arm's code to the other arm's site (`with_r0`'s `case 0:` in the forward conv, a
//!    lambda's entry line), so that site's executions alone do not show the arm ran.
//! 2. **Basic blocks.** The SASS is cut into basic blocks (at labels and after branches);
//!    blocks no branch or fall-through reaches (padding after `EXIT`) count zero; an indirect
//!    branch (`BRX`) reaches the labels of its `BRANCH_TARGETS` list. A `BRA.DIV` (the
//!    diverged-warp slow path of a `__shfl_*_sync`) falls through and never branches: the kernels
//!    shuffle converged. A backward branch of a reachable block
//!    marks the blocks from its target to itself as a loop (the slow path's jump back to the
//!    shuffle's re-entry label makes none).
//! 3. **Block counts.** Every instruction of a block executes as often as the block.
//!    - Outside loops a block runs at most once per warp, and all its instructions issue for a
//!      warp that reaches it (nvcc predicates short divergent branches): its count is the largest
//!      count of its lines, capped at the number of warps. Only lines that ran at most once per
//!      warp (0 < E ≤ warps, not all predicated, a count of their own rather than a sum joined on
//!      the innermost line alone) count, where the block holds any: a line the host ran many
//!      times per warp (a host-rolled loop nvcc unrolled into the block) does not say how many
//!      warps reached it (16 pair calls on half the warps read as "every warp"). The entry block
//!      counts every warp. A block ending in a conditional branch runs at most as often as the
//!      branch's line (not a loop's backward-branch line): the host evaluated the condition for
//!      every warp that reached it.
//!    - In a loop, a line executed E times with m copies of its work in the block bounds the block
//!      by E/m; the block count is the smallest bound over its lines (lines whose instructions are
//!      all predicated do not bound, unless the block has no other line but hoisted ones: then
//!      they do, and the hoisted lines still do not). m is the unroll factor: the median per-opcode ratio against
//!      the smallest copy of the same line in another loop (nvcc's remainder loop after a loop
//!      unrolled for a runtime trip count), else the gcd of the line's per-opcode counts when it
//!      has two or more opcodes there, one of them a memory access (an unrolled `acc += x[k] * w`
//!      holds 4 LDG and 4 FFMA: m = 4; the 2 FMUL + 2 FFMA of a complex multiply are no copies;
//!      a line with k accesses per execution, the host's requests over its executions, has at
//!      most mem / k copies),
//!      else 1; times the *twin blocks* of the same loop that hold the same opcodes of the line
//!      (a memory access, or two instructions or more): nvcc unrolled a loop whose iterations
//!      each branch (a bounds test per point), so every copy sits in blocks of its own, while the
//!      host's count covers all of them. When every warp has the same whole number of
//!      executions, an unrolled body gets whole trips (⌊E/(m·warps)⌋ per warp).
//!      Lines executed at most once per warp do not bound a loop block: they are code nvcc moved
//!      into the loop (a barrier merged into it, a hoisted computation). Except a statement of
//!      the loop's own body that every warp ran exactly once (the loop's function itself, not a
//!      callee inlined into it, at a source line after the line of the loop's backward branch):
//!      then the loop runs once per warp and the statement bounds the block by its count (a batch
//!      loop at B = 1, whose other lines are inner loops nvcc unrolled and the host did not).
//!    - Unrolled bodies spend budgets: loop blocks are visited by decreasing unroll factor and a
//!      block with m > 1 spends m × (its count) of each of its lines' counts, so nvcc's remainder
//!      code (a rolled loop, or straight pieces inside an outer loop) gets what the unrolled body
//!      left (E mod m per warp). Blocks of rolled loops spend nothing: a line in several blocks of
//!      one loop (a loop header's test and increment) bounds each by its whole count.
//!    - Borrowed code does not bound a loop block nor spend budget there: a chain outside the
//!      loop's function instance that the host ran more than once per warp (an enclosing loop's
//!      statement nvcc sank into an inlined helper's loop), or one of the same function at a line
//!      before the loop's header (an earlier loop whose code nvcc shares with this one).
//!    - A block whose instructions are mostly unrun copies (step 1) counts zero. So does a block
//!      whose instructions are mostly of *absent* lines: lines of the kernel's sources (a file
//!      the counts name) that no counted chain has, which the host never ran (the checked path
//!      of a kernel whose accesses were all in range, the scalar path beside a vector one).
//!      Predicated and control instructions are left out of that tally (a predicated-off
//!      instruction still issues; a `BSYNC` is attributed to a line of one arm). Absent is not
//!      a count of zero: the host compiler may fold a statement into the line before it
//!      (`filter_bwd_reduce`'s `o -= nw; if (o < F)`), so the block counts zero only when no
//!      block it dominates (reachable only through it) holds a line the host counted as its own.
//!    - A join of control instructions only (the `BSYNC` where the arms of an `if` reconverge),
//!      reached by forward edges, takes its line's count but never less than the largest count of
//!      the blocks that reach it (nvcc files it under a line of one arm, which may be the arm that
//!      never ran or a helper's copy run only at another call site), and in the flow step below
//!      never more than its immediate dominator in the same loop when that block was counted from
//!      lines of its own (an `if / else if` chain: the sum of the arms counts the head once per
//!      arm). Any other block with no counted line takes the count of the block before it.
//!    - Flow: a block runs at most as often as control reaches it, the sum of its predecessors'
//!      counts (blocks visited in address order; loop heads and blocks after a `CALL` exempt,
//!      a backward edge from an unreachable block making no loop head);
//!      where its predecessors are copies of one body (mostly the same lines) that all branch
//!      off one block, at most as often as that block, and the copies share that block's count.
//!      This bounds a block of arithmetic only (nothing to read an unroll factor from) whose
//!      lines the host compiler ran once per trip of a loop nvcc unrolled into it. The join of a
//!      triangle, a block whose immediate dominator is one of its predecessors that ends in a
//!      conditional branch, holds a memory access and shares its innermost loop with every
//!      predecessor of the join, runs at most as often as that head (each run of the head
//!      reaches the join once, through the arm or straight): the DFT after `pass_twiddle`'s
//!      `s == 0` test, where the sum counted the head and the twiddles both. The memory access
//!      asks for a head whose count was read from an unroll factor, not from a line many blocks
//!      share (`out_reg`'s `t < L` tests, counted low: the cap would carry that to the join).
//! 4. Blocks that `CALL` a subroutine and the subroutines (non-entry functions) count zero: nvcc
//!    calls only the slow paths of division, reciprocal and 64-bit division, which the inline fast
//!    path branches around for ordinary operands.
//!
//! Known limits (measured on the microkernels of tests/all/estimate.rs, docs/GPU_MODEL.md): a straight
//! block that a branch skips for some trip counts is still counted once per warp (+8.5% on a loop
//! of 3 trips); a divergent line predicated inside a loop can lower the loop's count; the line
//! counts must count executions of a line's work (a host compiler that unrolls a loop counts
//! fewer); a loop nvcc unrolls with no remainder loop, no repeated opcode pattern and no copy in a
//! block of its own (m read as 1) is over-counted by its unroll factor; a loop that runs once
//! per warp is bounded only where one of its own statements sits in the block (nested blocks
//! holding only callee lines keep the old bounds); an unroll factor read from the gcd of a
//! line's opcodes counts instructions, so a line issuing k of each opcode per execution reads as
//! k times its copies: where that exceeds the line's executions per warp, the largest divisor
//! that fits is taken (it used to round the block down to zero trips: two of `long_rows`' six
//! radix-16 DFTs, `long_rows_bwd`'s middle passes at B = 1), otherwise it undercounts by k;
//! copies nvcc makes of one body behind a test it unswitched (`long_rows_bwd`'s `pr == 0` and
//! `pr != 0` versions of its 16 points) carry the same lines, so which one ran is unknown: the
//! flow step ("copies of one body") makes them share the count of the block they branch off, in
//! proportion to their own counts (half each at B = 1, where one ran once per warp and the other
//! never); a straight block whose code nvcc's line
//! table attributes to another arm's lines takes that arm's once-per-warp counts (the fused
//! forward's `u != 0` pair arm at 8K: 21, the `u == 0` arm's 7 calls × 3 warps, for 24 warps).

use crate::ModelError;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One source location: file name (no folders) and line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    pub file: String,
    pub line: u32,
}

impl Frame {
    /// A frame from a path as some compiler saw it; only the file name is kept.
    pub fn new(path: &str, line: u32) -> Frame {
        let file = path.rsplit(['/', '\\']).next().unwrap_or(path).to_string();
        Frame { file, line }
    }
}

/// Innermost location first, then the call sites it was inlined into.
pub type Chain = Vec<Frame>;

/// Execution pipes an instruction issues to (sm_80 / sm_90).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pipe {
    /// FP32 and packed FP16/BF16 arithmetic (FFMA, FADD, HFMA2, ...): 128 lanes/clk/SM.
    Fp32,
    /// Integer and logic (IMAD, IADD3, LOP3, SHF, ISETP, MOV, SEL, PRMT, F2FP, ...): 64 lanes/clk/SM.
    Int,
    /// FP64 arithmetic.
    Fp64,
    /// Special functions and conversions (MUFU, F2F, F2I, I2F, FRND): 16 lanes/clk/SM.
    Mufu,
    /// Global / generic memory (LDG, STG, ATOM, RED, LDGSTS, TMA).
    Global,
    /// Shared memory (LDS, STS, ATOMS, LDSM).
    Shared,
    /// Local memory (LDL, STL): register spills and stack arrays.
    Local,
    /// Branches, barriers, reconvergence, exit.
    Control,
    /// Tensor cores (HMMA, HGMMA, ...).
    Tensor,
    /// Everything else: uniform datapath, constant loads, special registers, shuffles, votes.
    Other,
}

impl Pipe {
    /// Every pipe, in table order.
    pub const ALL: [Pipe; 10] = [
        Pipe::Fp32,
        Pipe::Int,
        Pipe::Fp64,
        Pipe::Mufu,
        Pipe::Global,
        Pipe::Shared,
        Pipe::Local,
        Pipe::Control,
        Pipe::Tensor,
        Pipe::Other,
    ];

    /// Short lowercase name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Pipe::Fp32 => "fp32",
            Pipe::Int => "int",
            Pipe::Fp64 => "fp64",
            Pipe::Mufu => "mufu",
            Pipe::Global => "global",
            Pipe::Shared => "shared",
            Pipe::Local => "local",
            Pipe::Control => "control",
            Pipe::Tensor => "tensor",
            Pipe::Other => "other",
        }
    }

    fn index(self) -> usize {
        Pipe::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// The pipe of an opcode (with or without `.MODIFIERS`).
    pub fn of(opcode: &str) -> Pipe {
        let base = opcode.split('.').next().unwrap_or(opcode);
        match base {
            "FADD" | "FMUL" | "FFMA" | "FMNMX" | "FSET" | "FSETP" | "FSEL" | "FCHK" | "FSWZADD"
            | "FADD32I" | "FMUL32I" | "FFMA32I" | "HADD2" | "HMUL2" | "HFMA2" | "HMNMX2"
            | "HSET2" | "HSETP2" | "HADD2_32I" | "HMUL2_32I" | "HFMA2_32I" => Pipe::Fp32,
            "DADD" | "DMUL" | "DFMA" | "DSETP" | "DSET" | "DMNMX" => Pipe::Fp64,
            "MUFU" | "F2F" | "F2I" | "I2F" | "FRND" | "I2I" => Pipe::Mufu,
            "LDG" | "STG" | "LD" | "ST" | "RED" | "ATOM" | "ATOMG" | "LDGSTS" | "LDGDEPBAR"
            | "CCTL" | "UBLKCP" | "UTMALDG" | "UTMASTG" | "UTMAPF" | "UBLKRED" | "UTMAREDG" => {
                Pipe::Global
            }
            "LDS" | "STS" | "ATOMS" | "LDSM" | "STSM" => Pipe::Shared,
            "LDL" | "STL" => Pipe::Local,
            "BRA" | "BRX" | "BRXU" | "JMP" | "JMX" | "CALL" | "RET" | "EXIT" | "BAR" | "BSSY"
            | "BSYNC" | "WARPSYNC" | "NOP" | "YIELD" | "BPT" | "KILL" | "MEMBAR" | "ERRBAR"
            | "DEPBAR" | "BMOV" | "ACQBULK" | "SYNCS" | "WARPGROUP" | "ELECT" => Pipe::Control,
            "HMMA" | "IMMA" | "DMMA" | "BMMA" | "HGMMA" | "IGMMA" | "QGMMA" | "BGMMA" => {
                Pipe::Tensor
            }
            "IADD3" | "IADD" | "IMAD" | "IMUL" | "IMNMX" | "IABS" | "ISETP" | "ISET" | "LOP3"
            | "LOP" | "SHF" | "SHL" | "SHR" | "LEA" | "SEL" | "MOV" | "MOV32I" | "PRMT"
            | "POPC" | "FLO" | "BREV" | "BMSK" | "SGXT" | "VIADD" | "VIMNMX" | "VIADDMNMX"
            | "IDP" | "P2R" | "R2P" | "PLOP3" | "PSETP" | "F2FP" | "I2FP" | "F2IP" | "IADD32I"
            | "LOP32I" | "IMUL32I" | "ISCADD" | "VABSDIFF" | "VABSDIFF4" => Pipe::Int,
            _ => Pipe::Other,
        }
    }
}

/// One SASS instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instr {
    /// Mnemonic with modifiers (`LDG.E.128`).
    pub opcode: String,
    /// Guarded by a predicate other than `PT`.
    pub predicated: bool,
    /// Index into [`Function::chains`]; `None` before the first annotation.
    pub chain: Option<usize>,
    /// Branch target label (`.L_x_3`), for BRA / CALL / JMP; for BRX the labels of its
    /// `BRANCH_TARGETS` list, comma-separated.
    pub target: Option<String>,
}

impl Instr {
    /// The pipe this instruction issues to.
    pub fn pipe(&self) -> Pipe {
        Pipe::of(&self.opcode)
    }
    fn base(&self) -> &str {
        self.opcode.split('.').next().unwrap_or(&self.opcode)
    }
    fn is_branch(&self) -> bool {
        matches!(
            self.base(),
            "BRA" | "BRX" | "BRXU" | "JMP" | "JMX" | "EXIT" | "RET" | "KILL"
        )
    }
    /// `BRA.DIV`: the branch to a warp-synchronous op's slow path, taken only where the warp is
    /// diverged there (nvcc puts one before `__shfl_*_sync` runs). The kernels shuffle with the
    /// whole warp converged, so the estimate follows the fall-through and never the target (taken
    /// as an unconditional jump, it made the forward's shuffles and every pair after them
    /// unreachable: 0 executions).
    fn divergence_only(&self) -> bool {
        self.opcode.starts_with("BRA.DIV")
    }
    /// Control never falls through to the next instruction.
    fn ends_flow(&self) -> bool {
        self.is_branch() && !self.predicated && !self.divergence_only()
    }
}

/// One function of the listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// A kernel entry point (`STO_CUDA_ENTRY`), not a subroutine.
    pub entry: bool,
    pub instrs: Vec<Instr>,
    /// Distinct location chains, referenced by [`Instr::chain`].
    pub chains: Vec<Chain>,
    /// Label name -> index of the instruction it precedes.
    pub labels: BTreeMap<String, usize>,
}

impl Function {
    /// Static instruction count per pipe (padding `NOP`s after the last `EXIT` included).
    pub fn static_per_pipe(&self) -> [u64; 10] {
        let mut v = [0u64; 10];
        for i in &self.instrs {
            v[i.pipe().index()] += 1;
        }
        v
    }

    /// Static instruction count per location chain (for reports: which lines generate most code).
    pub fn static_per_chain(&self) -> Vec<(Chain, u64)> {
        let mut v = vec![0u64; self.chains.len()];
        for c in self.instrs.iter().filter_map(|i| i.chain) {
            v[c] += 1;
        }
        self.chains.iter().cloned().zip(v).collect()
    }
}

/// A parsed listing: every function of one cubin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub functions: Vec<Function>,
}

fn parse_annotation(s: &str, lineno: usize) -> Result<(Frame, Option<Frame>), ModelError> {
    // `File "PATH", line N` [` inlined at "PATH", line M`]
    let bad = |msg: &str| ModelError::Listing {
        line: lineno,
        msg: format!("{msg}: `{s}`"),
    };
    let one = |t: &str| -> Result<(Frame, usize), ModelError> {
        let t0 = t
            .find('"')
            .ok_or_else(|| bad("annotation without a quoted file"))?;
        let t1 = t[t0 + 1..]
            .find('"')
            .ok_or_else(|| bad("unterminated file name"))?
            + t0
            + 1;
        let path = &t[t0 + 1..t1];
        let rest = &t[t1 + 1..];
        let l0 = rest
            .find("line ")
            .ok_or_else(|| bad("annotation without `line`"))?
            + 5;
        let digits: String = rest[l0..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let line = digits
            .parse()
            .map_err(|_| bad("annotation line is not a number"))?;
        Ok((Frame::new(path, line), t1 + 1 + l0 + digits.len()))
    };
    let (inner, used) = one(s)?;
    let rest = &s[used..];
    let outer = match rest.find("inlined at") {
        Some(p) => Some(one(&rest[p..])?.0),
        None => None,
    };
    Ok((inner, outer))
}

impl Listing {
    /// Parse `nvdisasm -gi -c` output (or [`Listing::to_compact`] output).
    pub fn parse(text: &str) -> Result<Listing, ModelError> {
        let mut out = Listing::default();
        let mut cur: Option<Function> = None;
        let mut chain_ids: HashMap<Chain, usize> = HashMap::new();
        let mut group: Vec<(Frame, Option<Frame>)> = Vec::new();
        let mut in_group = false;
        let mut cur_chain: Option<usize> = None;
        for (n, raw) in text.lines().enumerate() {
            let lineno = n + 1;
            let t = raw.trim();
            if t.starts_with("//-----") {
                if let Some(f) = cur.take() {
                    out.functions.push(f);
                }
                in_group = false;
                cur_chain = None;
                chain_ids.clear();
                if let Some(p) = t.find(".text.") {
                    let name = t[p + 6..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    if name.is_empty() {
                        return Err(ModelError::Listing {
                            line: lineno,
                            msg: "section without a function name".into(),
                        });
                    }
                    cur = Some(Function {
                        name,
                        ..Function::default()
                    });
                }
                continue;
            }
            let Some(f) = cur.as_mut() else { continue };
            if let Some(a) = t.strip_prefix("//## File") {
                if !in_group {
                    group.clear();
                    in_group = true;
                }
                group.push(parse_annotation(a, lineno)?);
                continue;
            }
            if in_group {
                // The group's chain: the first location of each annotation line.
                let mut chain: Chain = group.iter().map(|(f, _)| f.clone()).collect();
                if let Some((_, Some(o))) = group.last() {
                    chain.push(o.clone());
                }
                let next = chain_ids.len();
                let id = *chain_ids.entry(chain.clone()).or_insert(next);
                if id == next {
                    f.chains.push(chain);
                }
                cur_chain = Some(id);
                in_group = false;
            }
            if t.is_empty() || t.starts_with("//") || t == "{" || t == "}" {
                continue;
            }
            if t.starts_with('.') && !t.ends_with(':') {
                if t.starts_with(".other") && t.contains("STO_CUDA_ENTRY") {
                    f.entry = true;
                }
                continue;
            }
            if let Some(label) = t.strip_suffix(':') {
                if !label.contains(' ') {
                    f.labels.insert(label.to_string(), f.instrs.len());
                    continue;
                }
            }
            // An instruction: [/*addr*/] [@[!]P] OPCODE operands [;]
            let mut s = t;
            if let Some(r) = s.strip_prefix("/*") {
                let end = r.find("*/").ok_or_else(|| ModelError::Listing {
                    line: lineno,
                    msg: "unterminated address".into(),
                })?;
                s = r[end + 2..].trim_start();
            }
            let s = s
                .trim_end_matches(';')
                .trim()
                .trim_start_matches('{')
                .trim();
            let mut toks = s.split_whitespace();
            let mut first = toks.next().ok_or_else(|| ModelError::Listing {
                line: lineno,
                msg: "empty instruction".into(),
            })?;
            let mut predicated = false;
            if let Some(p) = first.strip_prefix('@') {
                predicated = !matches!(p, "PT" | "UPT");
                first = toks.next().ok_or_else(|| ModelError::Listing {
                    line: lineno,
                    msg: "predicate without opcode".into(),
                })?;
            }
            if !first.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                return Err(ModelError::Listing {
                    line: lineno,
                    msg: format!("not an instruction: `{t}`"),
                });
            }
            // An indirect branch (a `switch` table) names its targets in a comment:
            // `BRX R2 -0x11f0 (*"BRANCH_TARGETS .L_x_1,.L_x_2"*)`; kept as "L1,L2" (`to_compact`
            // writes them back in the `(...)` form, which this reads the same way).
            let target = s
                .find("BRANCH_TARGETS ")
                .map(|p| s[p + 15..].split('"').next().unwrap_or("").trim().to_string())
                .or_else(|| s.find("`(").and_then(|p| s[p + 2..].split(')').next()).map(str::to_string));
            f.instrs.push(Instr {
                opcode: first.to_string(),
                predicated,
                chain: cur_chain,
                target,
            });
        }
        if let Some(f) = cur.take() {
            out.functions.push(f);
        }
        Ok(out)
    }

    /// The function called `name`.
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// A smaller listing that [`Listing::parse`] reads back into the same table: file names only,
    /// no addresses or operands (branch targets kept), `NOP`s kept (they are instructions).
    pub fn to_compact(&self) -> String {
        let mut s = String::new();
        for f in &self.functions {
            s.push_str(&format!("//----- .text.{} -----\n", f.name));
            if f.entry {
                s.push_str(&format!(".other {},@\"STO_CUDA_ENTRY\"\n", f.name));
            }
            let mut labels: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
            for (l, i) in &f.labels {
                labels.entry(*i).or_default().push(l);
            }
            let mut last: Option<usize> = None;
            for (k, ins) in f.instrs.iter().enumerate() {
                for l in labels.get(&k).into_iter().flatten() {
                    s.push_str(&format!("{l}:\n"));
                }
                if ins.chain != last {
                    if let Some(c) = ins.chain {
                        let ch = &f.chains[c];
                        for (j, fr) in ch.iter().enumerate() {
                            s.push_str(&format!("//## File \"{}\", line {}", fr.file, fr.line));
                            if let Some(o) = ch.get(j + 1) {
                                s.push_str(&format!(" inlined at \"{}\", line {}", o.file, o.line));
                            }
                            s.push('\n');
                            if j + 2 == ch.len() {
                                break;
                            }
                        }
                    }
                    last = ins.chain;
                }
                if ins.predicated {
                    s.push_str("@P ");
                }
                s.push_str(&ins.opcode);
                if let Some(t) = &ins.target {
                    s.push_str(&format!(" `({t})"));
                }
                s.push('\n');
            }
            for l in labels.range(f.instrs.len()..).flat_map(|(_, v)| v) {
                s.push_str(&format!("{l}:\n"));
            }
        }
        s
    }
}

/// How often a warp executed one source location chain (innermost first), from whatever ran the
/// kernel (e.g. a simulator's per-line counters). Paths may be full; only file names are compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineExec {
    pub frames: Vec<(String, u32)>,
    pub warp_execs: u64,
    /// The warp-level memory requests the host counted at this chain (global and shared), 0 when
    /// not known: with `warp_execs`, the accesses a line makes per execution.
    pub mem_requests: u64,
}

/// The estimate for one launch (or one sample of blocks: scale it like the counts it came from).
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Executed warp-instructions.
    pub total: f64,
    /// Executed warp-instructions per pipe, indexed like [`Pipe::ALL`].
    pub per_pipe: [f64; 10],
    /// Executed count of every instruction of the function, in listing order.
    pub per_instr: Vec<f64>,
    /// Reachable instructions whose location matched no counted line (they take their block's
    /// count from the other lines of the block or its predecessor).
    pub unmatched_instrs: usize,
    /// Global loads per execution of a basic block that holds any (weighted by executions): the
    /// loads a warp issues back to back before it needs their data, its memory-level parallelism
    /// for the time model (1 when the kernel loads nothing).
    pub global_load_ilp: f64,
}

/// Bytes of one SASS instruction on Volta and later (sm_70 and up encode every instruction in 128
/// bits).
pub const SASS_INSTR_BYTES: u64 = 16;

impl Estimate {
    /// Instructions of the function that the launch executes at least once (a nonzero count): ×
    /// [`SASS_INSTR_BYTES`], the code it runs through — its instruction-cache footprint, which the
    /// time model does not price (a kernel whose listing holds every size's path runs only one).
    pub fn executed_instrs(&self) -> usize {
        self.per_instr.iter().filter(|&&c| c > 0.0).count()
    }

    /// Executed warp-instructions of one pipe.
    pub fn pipe(&self, p: Pipe) -> f64 {
        self.per_pipe[p.index()]
    }
}

/// Immediate dominators of a control-flow graph from block 0 (Cooper, Harvey and Kennedy, "A
/// Simple, Fast Dominance Algorithm"): `parent[b]` is b's immediate dominator (`Some(0)` for the
/// entry itself, `None` for a block `reach` leaves out); `order` the reachable blocks in reverse
/// postorder (a dominator comes before the blocks it dominates).
struct Dominators {
    parent: Vec<Option<usize>>,
    order: Vec<usize>,
}

fn dominators(succ: &[Vec<usize>], preds: &[Vec<usize>], reach: &[bool]) -> Dominators {
    let nb = succ.len();
    let mut parent = vec![None; nb];
    if nb == 0 || !reach[0] {
        return Dominators { parent, order: Vec::new() };
    }
    // Postorder by an explicit stack (kernels have thousands of blocks).
    let mut post = Vec::with_capacity(nb);
    let mut seen = vec![false; nb];
    let mut stack = vec![(0usize, 0usize)];
    seen[0] = true;
    while let Some(&mut (b, ref mut k)) = stack.last_mut() {
        if let Some(&t) = succ[b].get(*k) {
            *k += 1;
            if !seen[t] {
                seen[t] = true;
                stack.push((t, 0));
            }
        } else {
            post.push(b);
            stack.pop();
        }
    }
    let order: Vec<usize> = post.into_iter().rev().collect();
    let mut rpo_pos = vec![usize::MAX; nb];
    for (i, &b) in order.iter().enumerate() {
        rpo_pos[b] = i;
    }
    parent[0] = Some(0);
    let mut changed = true;
    while changed {
        changed = false;
        for &b in order.iter().skip(1) {
            let mut new: Option<usize> = None;
            // Predecessors not processed yet, or unreachable, have no parent and are skipped.
            for &p in &preds[b] {
                if parent[p].is_none() {
                    continue;
                }
                new = Some(match new {
                    None => p,
                    Some(mut x) => {
                        let mut y = p;
                        while x != y {
                            while rpo_pos[x] > rpo_pos[y] {
                                x = parent[x].unwrap_or(0);
                            }
                            while rpo_pos[y] > rpo_pos[x] {
                                y = parent[y].unwrap_or(0);
                            }
                        }
                        x
                    }
                });
            }
            if new.is_some() && parent[b] != new {
                parent[b] = new;
                changed = true;
            }
        }
    }
    Dominators { parent, order }
}

/// The largest divisor of `m` that is at most `cap` (at least 1); `m` itself when it fits.
fn fit_divisor(m: u64, cap: u64) -> u64 {
    if m <= cap {
        return m;
    }
    (1..=cap).rev().find(|d| m % d == 0).unwrap_or(1)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Join counts per source chain (E per SASS chain of `f`), step 1 of the method, whether the
/// chain is a copy the host never ran (its call sites at some depth never executed), and whether
/// its count is specific to it: every counted chain it took a count from agrees with it beyond
/// the innermost line (its call site too, where both name one), not a sum over every counted
/// chain that shares only its innermost line (`cadd`'s line inlined at a `make_float2` the host
/// saw and nvcc did not: a tie over every caller of that line in the kernel).
fn chain_counts(f: &Function, lines: &[LineExec]) -> Joined {
    let sim: Vec<(Chain, u64)> = lines
        .iter()
        .filter(|l| !l.frames.is_empty())
        .map(|l| {
            (
                l.frames.iter().map(|(p, n)| Frame::new(p, *n)).collect(),
                l.warp_execs,
            )
        })
        .collect();
    let requests: Vec<u64> = lines.iter().filter(|l| !l.frames.is_empty()).map(|l| l.mem_requests).collect();
    let files: HashSet<&str> = sim.iter().map(|(c, _)| c[0].file.as_str()).collect();
    let mut by_inner: HashMap<&Frame, Vec<usize>> = HashMap::new();
    for (k, (c, _)) in sim.iter().enumerate() {
        by_inner.entry(&c[0]).or_default().push(k);
    }
    // Executions of a call site: the largest count of a counted chain that passes through its
    // innermost frame with the same callers as far as both chains go (the host compiler ran the
    // call, or code inlined at it, that often). 0: the host never executed that call.
    let site_execs = |site: &[Frame]| -> u64 {
        sim.iter()
            .filter(|(t, _)| {
                t.iter().enumerate().any(|(i, fr)| {
                    fr == &site[0] && t[i + 1..].iter().zip(&site[1..]).all(|(a, b)| a == b)
                })
            })
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    };
    // Best matches per SASS chain: (sim indices, score), and the weight of its share.
    let mut best: Vec<(Vec<usize>, usize)> = Vec::with_capacity(f.chains.len());
    let mut weight: Vec<Option<u64>> = Vec::with_capacity(f.chains.len());
    let mut whole: Vec<bool> = Vec::with_capacity(f.chains.len());
    let mut absent: Vec<bool> = Vec::with_capacity(f.chains.len());
    // Each SASS chain from its first frame in a counted file (its header frames dropped; `None`:
    // library code only).
    let kernel_part: Vec<Option<&[Frame]>> = f
        .chains
        .iter()
        .map(|c| c.iter().position(|fr| files.contains(fr.file.as_str())).map(|start| &c[start..]))
        .collect();
    for c in &kernel_part {
        let Some(c) = *c else {
            best.push((Vec::new(), 0));
            weight.push(None);
            whole.push(false);
            absent.push(false);
            continue;
        };
        let mut top = (Vec::new(), 0usize);
        for &k in by_inner.get(&c[0]).map(|v| v.as_slice()).unwrap_or(&[]) {
            let t = &sim[k].0;
            let score = 1 + c[1..]
                .iter()
                .zip(&t[1..])
                .take_while(|(a, b)| a == b)
                .count();
            if score > top.1 {
                top = (vec![k], score);
            } else if score == top.1 {
                top.0.push(k);
            }
        }
        // The frames past the matched depth are call sites the counted chain does not name (the
        // host compiler did not inline there, or inlined elsewhere). A SASS copy whose call sites
        // the host never executed at some depth (another template instance, the other arm of a
        // runtime switch) gets no share; the others share in proportion to their call site's
        // executions.
        let rest = &c[top.1.min(c.len())..];
        // Another arm's copy: every counted chain of this line it matches best parts from it at
        // one call site only, with the same callers beyond (the arms of `with_r0`'s switch over
        // template instances): the host ran the line through the other site, never through this
        // one. Checked apart from the call site's executions because the host's line tables
        // can credit a little of the other arm's code to this site (a lambda's entry line). Not
        // a copy when the host ran the call this line sits in at this site (the innermost call
        // site and every caller of it): then the two sites are calls of one body that both
        // ran (`pass_twiddle` for a pair's two butterflies), one of them credited to the other.
        let sibling = !rest.is_empty()
            && !top.0.is_empty()
            && top.0.iter().all(|&k| {
                let t = &sim[k].0;
                t.len() == c.len() && t[top.1] != c[top.1] && t[top.1 + 1..] == c[top.1 + 1..]
            })
            && site_execs(&c[1..]) == 0;
        let w = if rest.is_empty() || top.0.is_empty() {
            None
        } else if sibling || (0..rest.len()).any(|i| site_execs(&rest[i..]) == 0) {
            Some(0)
        } else {
            Some(site_execs(rest))
        };
        whole.push(!top.0.is_empty() && top.0.iter().all(|&k| top.1 >= c.len().min(sim[k].0.len()).min(2)));
        absent.push(top.0.is_empty());
        best.push(top);
        weight.push(w);
    }
    // Users of each counted chain: the SASS chains that matched it with the highest score.
    let mut max_score = vec![0usize; sim.len()];
    for (ks, s) in &best {
        for &k in ks {
            max_score[k] = max_score[k].max(*s);
        }
    }
    // Per counted chain: its users' weights (call-site executions; None = unknown). The count is
    // split in proportion to them when every user has a known weight, else evenly among the
    // users not known to be unexecuted; users whose call sites never ran get nothing (all of
    // them never ran: evenly, the count has to go somewhere).
    // A user *contradicts* a counted chain when both go deeper than their match and end at
    // different outermost frames, the counted one at a call site that has SASS copies of its
    // own: the host ran the body through that site, and this copy sits at another (the
    // 1xTF32 and 3xTF32 instances of `hyena_tc_dft256_f32`, called at lines 287 and 285). It
    // takes no share of that count, whatever the host says of its own call site (the `else`
    // line of the instance switch counts once per warp in a launch that never took it).
    let outer: HashSet<&Frame> = f.chains.iter().filter_map(|c| c.last()).collect();
    let contradicts = |c: usize, k: usize, s: usize| -> bool {
        let ch = &f.chains[c];
        let kept = kernel_part[c].map_or(ch.len(), <[Frame]>::len);
        let t = &sim[k].0;
        kept > s && t.len() > s && ch.last() != t.last() && t.last().is_some_and(|o| outer.contains(o))
    };
    // SASS chains equal once their header frames are dropped are one user: library code inlined
    // into the line (`min` of math_functions.hpp in `return rmax > 0.0f ? min(..) : 126u;`) runs
    // once per execution of the line, as the line's own instructions do. Counted as two users,
    // each took half the line's count (the G kernel's row exponent: 72 of 144, which held the
    // blocks of its loop body to half a trip per row).
    let mut users: Vec<Vec<Option<u64>>> = vec![Vec::new(); sim.len()];
    let mut user_chains: Vec<Vec<&[Frame]>> = vec![Vec::new(); sim.len()];
    for (c, ((ks, s), w)) in best.iter().zip(&weight).enumerate() {
        for &k in ks {
            let part = kernel_part[c].unwrap_or_default();
            if *s == max_score[k] && !contradicts(c, k, *s) && !user_chains[k].contains(&part) {
                users[k].push(*w);
                user_chains[k].push(part);
            }
        }
    }
    let share = |c: usize, k: usize, s: usize, w: Option<u64>| -> f64 {
        if contradicts(c, k, s) {
            return 0.0;
        }
        let u = &users[k];
        let e = sim[k].1 as f64;
        let live = u.iter().filter(|x| **x != Some(0)).count();
        if live == 0 {
            return e / u.len() as f64;
        }
        if w == Some(0) {
            return 0.0;
        }
        if u.iter().all(|x| x.is_some()) {
            let total: u64 = u.iter().map(|x| x.unwrap_or(0)).sum();
            return e * w.unwrap_or(0) as f64 / total as f64;
        }
        e / live as f64
    };
    let unrun: Vec<bool> = weight.iter().map(|w| *w == Some(0)).collect();
    let mut requests_per_exec: Vec<Option<f64>> = Vec::with_capacity(best.len());
    let counts = best
        .iter()
        .zip(&weight)
        .enumerate()
        .map(|(c, ((ks, s), w))| {
            if ks.is_empty() {
                requests_per_exec.push(None);
                return None;
            }
            let (mut e, mut r, mut known) = (0.0, 0.0, true);
            for &k in ks.iter().filter(|&&k| *s == max_score[k]) {
                let x = share(c, k, *s, *w);
                e += x;
                if sim[k].1 > 0 {
                    r += x * requests[k] as f64 / sim[k].1 as f64;
                }
                known &= requests[k] > 0;
            }
            requests_per_exec.push((known && e > 0.0).then(|| r / e));
            Some(e)
        })
        .collect();
    Joined { counts, unrun, whole, absent, requests_per_exec }
}

/// What [`chain_counts`] says of each location chain of a function.
struct Joined {
    /// The joined count E (`None`: no counted line matched it).
    counts: Vec<Option<f64>>,
    /// A copy the host never ran (its call sites at some depth never executed).
    unrun: Vec<bool>,
    /// Its count is its own, not a sum over chains sharing only the innermost line.
    whole: Vec<bool>,
    /// Its innermost line in the kernel's sources (a file the counts name) is no line the host
    /// ran: no counted chain has it. Library-only chains (every frame in CUDA headers) are not
    /// absent: they have no line of their own to look up.
    absent: Vec<bool>,
    /// The host's memory requests per execution of the counted chains it joined (`None`: no
    /// count, or a counted chain without requests).
    requests_per_exec: Vec<Option<f64>>,
}

/// The joined count E of every location chain of `f` (indexed like [`Function::chains`]; `None`:
/// no counted line matched it), step 1 of the method: what the block rules read (for debugging
/// the estimate, e.g. `examples/reestimate.rs`).
pub fn joined_counts(f: &Function, lines: &[LineExec]) -> Vec<Option<f64>> {
    chain_counts(f, lines).counts
}

/// Whether `line` is a statement of the body of the loop whose backward branch is at `latch`: a
/// statement of the latch's function itself (not inlined into it from a callee: the same chain
/// length and inlined-at call sites) at a later source line than the latch (the loop's
/// `for`/`while` header, whose body follows it in the source). Code nvcc hoisted into a loop comes
/// from before its header. Asked only for lines every warp ran exactly once: the body statements
/// of a loop that runs once per warp (a batch loop at B = 1: `long_rows_bwd`'s pair loop), whose
/// blocks would otherwise be bounded only by lines nvcc unrolled into them from inner loops the
/// host kept rolled (16 per warp for a radix-16 butterfly). Statements inlined from callees are
/// left out: a helper's test the host ran once per warp (it unswitched it) sits in a loop of
/// two trips (the fused conv's middle passes at 8K).
fn in_body(line: &Chain, latch: &Chain) -> bool {
    let Some(head) = latch.first() else { return false };
    let callers = &latch[1..];
    if line.len() != latch.len() || !line.ends_with(callers) {
        return false;
    }
    line[0].file == head.file && line[0].line > head.line
}

/// Estimate the executed warp-instructions of `f` for one launch: `lines` are the per-chain warp
/// execution counts, `warp_entries` the number of warps that entered the kernel (blocks × warps
/// per block). See the module documentation for the method.
pub fn estimate(f: &Function, lines: &[LineExec], warp_entries: u64) -> Estimate {
    let n = f.instrs.len();
    let Joined { counts: e_chain, unrun, whole, absent, requests_per_exec } = chain_counts(f, lines);
    // Basic blocks.
    let mut leaders: Vec<usize> = vec![0];
    leaders.extend(f.labels.values().copied());
    for (k, i) in f.instrs.iter().enumerate() {
        if i.is_branch() {
            leaders.push(k + 1);
        }
    }
    leaders.retain(|&k| k < n);
    leaders.sort_unstable();
    leaders.dedup();
    let nb = leaders.len();
    let block_of = |k: usize| leaders.partition_point(|&l| l <= k) - 1;
    let range = |b: usize| leaders[b]..leaders.get(b + 1).copied().unwrap_or(n);
    let label_block = |l: &str| f.labels.get(l).filter(|&&k| k < n).map(|&k| block_of(k));
    // Reachability from block 0 (an indirect branch reaches every labelled block).
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); nb];
    for b in 0..nb {
        let r = range(b);
        if r.is_empty() {
            continue;
        }
        let last = &f.instrs[r.end - 1];
        if !last.ends_flow() && b + 1 < nb {
            succ[b].push(b + 1);
        }
        for i in &f.instrs[r] {
            if matches!(i.base(), "BRX" | "BRXU" | "JMX") {
                // Its listed targets, else (no list) every labelled block.
                match i.target.as_deref() {
                    Some(ts) => succ[b].extend(ts.split(',').filter_map(|t| label_block(t.trim()))),
                    None => succ[b].extend(f.labels.values().filter(|&&k| k < n).map(|&k| block_of(k))),
                }
            } else if i.is_branch() && !i.divergence_only() {
                if let Some(t) = i.target.as_deref().and_then(label_block) {
                    succ[b].push(t);
                }
            }
        }
    }
    let mut reach = vec![false; nb];
    let mut stack = vec![0usize];
    while let Some(b) = stack.pop() {
        if nb == 0 || reach[b] {
            continue;
        }
        reach[b] = true;
        stack.extend(succ[b].iter().copied());
    }
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); nb];
    for (b, ss) in succ.iter().enumerate() {
        for &t in ss {
            if !preds[t].contains(&b) {
                preds[t].push(b);
            }
        }
    }
    let idom = dominators(&succ, &preds, &reach);
    // Loops: a backward branch from block b to block t covers blocks t..=b; a block's innermost
    // loop is the shortest region that holds it.
    // Each loop also keeps the location chain of its backward branch (the loop's latch: its test
    // or increment, which the host ran at least once per trip).
    let mut regions: Vec<(usize, usize)> = Vec::new();
    let mut latch: Vec<Option<usize>> = Vec::new();
    // Not from a block control never reaches: the diverged-warp slow path of a shuffle, placed
    // after `EXIT`, jumps back to its re-entry label, which made a "loop" from that label to the
    // end of the function, whose blocks outside every real loop then took the in-loop rules
    // (the reduction tails of the G kernel and the filter backward: −1 % of each).
    for b in (0..nb).filter(|&b| reach[b]) {
        for i in &f.instrs[range(b)] {
            if i.base() == "BRA" && !i.divergence_only() {
                if let Some(t) = i.target.as_deref().and_then(label_block) {
                    if t <= b {
                        regions.push((t, b));
                        latch.push(i.chain);
                    }
                }
            }
        }
    }
    let innermost: Vec<Option<usize>> = (0..nb)
        .map(|b| {
            regions
                .iter()
                .enumerate()
                .filter(|(_, (t, e))| *t <= b && b <= *e)
                .min_by_key(|(_, (t, e))| e - t)
                .map(|(k, _)| k)
        })
        .collect();
    // Per block, per chain: instruction count per opcode, and whether all are predicated.
    let ops: Vec<BTreeMap<usize, (BTreeMap<&str, u64>, bool)>> = (0..nb)
        .map(|b| {
            let mut per: BTreeMap<usize, (BTreeMap<&str, u64>, bool)> = BTreeMap::new();
            for i in &f.instrs[range(b)] {
                if let Some(c) = i.chain {
                    let e = per.entry(c).or_insert_with(|| (BTreeMap::new(), true));
                    *e.0.entry(i.opcode.as_str()).or_default() += 1;
                    e.1 &= i.predicated;
                }
            }
            per
        })
        .collect();
    // Code of a loop block whose count belongs to another loop (*borrowed*), two kinds:
    // - a chain outside the loop's function instance (not ending with the latch's callers) that
    //   the host ran more than once per warp: a statement of an enclosing loop that nvcc sank
    //   into this one (`hyena_filter_fwd`'s layer loop inside `hidden_linear`'s k loop: as a
    //   bound it held the k loop to one trip per warp, 24 for 3864, a third of the kernel's
    //   fp64 work uncounted);
    // - a chain of the same function at a line before the loop's header (the frame at the
    //   latch's depth, with the latch's callers): the statement of an earlier loop whose code
    //   nvcc shares with this one (`long_rows`' forward and inverse row loops: part of the
    //   inverse's loads and twiddle powers carry the forward loop's lines); its count was spent
    //   by that loop, and as a bound here it zeroed the convolution's whole inverse loop (1176
    //   instructions).
    // Borrowed code does not bound the block nor spend the line's count there, and is no
    // remainder copy of the other loop's body. (Hoisted invariants, run once per warp, are left
    // out of the bounds anyway.)
    let w = warp_entries as f64;
    // Blocks of code the host never ran: mostly (non-control) instructions of *absent* lines, the
    // checked path of a kernel whose every access was in range, a scalar path beside the vector
    // one that ran. Absent means no counted line, not a count of zero: the host compiler may fold
    // a statement into its neighbour's line (`filter_bwd_reduce`'s `o -= nw; if (o < F)` has no
    // line of its own while the store it guards ran). So such a block counts zero only when no
    // block it dominates (only reachable through it) holds a line the host counted as its own
    // (`whole`, E > 0): control cannot reach that code without passing through it.
    let ran_below = {
        let evidence: Vec<bool> = (0..nb)
            .map(|b| {
                f.instrs[range(b)].iter().filter_map(|i| i.chain).any(|c| {
                    whole[c] && !unrun[c] && !absent[c] && e_chain[c].is_some_and(|e| e > 0.0)
                })
            })
            .collect();
        // Bottom-up over the dominator tree: a child's index is larger than its parent's in the
        // reverse postorder `dominators` returns.
        let mut below = vec![false; nb];
        for &b in idom.order.iter().rev() {
            if let Some(p) = idom.parent[b] {
                if p != b {
                    below[p] |= below[b] || evidence[b];
                }
            }
        }
        below
    };
    let borrowed = |b: usize, c: usize| -> bool {
        let Some(l) = innermost[b].and_then(|k| latch[k]).map(|x| &f.chains[x]) else { return false };
        let ch = &f.chains[c];
        let d = l.len();
        if d == 0 {
            return false;
        }
        if ch.len() < d || !ch.ends_with(&l[1..]) {
            return e_chain[c].unwrap_or(0.0) > w;
        }
        let fr = &ch[ch.len() - d];
        fr.file == l[0].file && fr.line < l[0].line
    };
    // Copies m of a chain's work in a loop block (the unroll factor):
    // - against the smallest copy of the same chain in another loop (nvcc's remainder loop after
    //   a runtime-trip unrolled loop): the median ratio of the per-opcode counts both hold;
    // - otherwise the gcd of the per-opcode counts when the chain has two or more opcodes there,
    //   one of them a memory access.
    // Also: whether m came from a remainder copy (only such a body leaves budget to it).
    let copies = |b: usize, c: usize| -> (u64, bool) {
        let Some(lb) = innermost[b] else { return (1, false) };
        let mine = &ops[b][&c].0;
        let size = |m: &BTreeMap<&str, u64>| m.values().sum::<u64>();
        let other = (0..nb)
            .filter(|&o| innermost[o].is_some_and(|lo| lo != lb) && ops[o].contains_key(&c) && !borrowed(o, c))
            .map(|o| &ops[o][&c].0)
            .filter(|m| size(m) < size(mine))
            .min_by_key(|m| size(m));
        if let Some(other) = other {
            let mut ratios: Vec<f64> = mine
                .iter()
                .filter_map(|(op, &n)| other.get(op).map(|&k| n as f64 / k as f64))
                .filter(|r| *r >= 1.0)
                .collect();
            ratios.sort_by(f64::total_cmp);
            if let Some(r) = ratios.get(ratios.len() / 2) {
                if r.round() >= 2.0 {
                    return (r.round() as u64, true);
                }
            }
        }
        // The gcd only for a line that moves data: an unrolled body replicates its loads and
        // stores with the arithmetic, while plain arithmetic repeats opcodes by itself (a complex
        // multiply is 2 FMUL + 2 FFMA).
        let mem: u64 = mine
            .iter()
            .filter(|(op, _)| matches!(Pipe::of(op), Pipe::Global | Pipe::Shared | Pipe::Local))
            .map(|(_, &v)| v)
            .sum();
        if mine.len() >= 2 && mem > 0 {
            let all = mine.values().fold(0, |g, &v| gcd(g, v)).max(1);
            // A line with k ≥ 2 accesses per execution (the host's requests over its executions:
            // `g_at`'s two loads, `fwd8k_ld2(gy + at)` and `fwd8k_ld2(po + at)` on one line) has
            // at most mem / k copies: 16 LDG of 8 calls read as 16 copies held the G kernel's
            // row loop (3 trips per warp at B = 1, 8 calls per trip) to ⌊24 / 16⌋ = 1 trip in
            // the blocks of its exponent pass.
            let k = requests_per_exec[c].map(|r| r.round() as u64).filter(|&k| k >= 2 && mem % k == 0);
            let all = k.map_or(all, |k| gcd(all, mem / k).max(1));
            // The address arithmetic of an unrolled body need not replicate with its accesses:
            // nvcc shares and folds it across copies (the forward's and the filter spectrum's
            // 16-point loads in `fused_read_park`: LDS 32, LEA 28, MOV 14, IMAD 4, gcd 1, for 16
            // executions per warp). When the line's memory instructions in the block are a whole
            // multiple k ≥ 2 of its executions per warp E/w ≥ 4 (every warp alike), the body is
            // unrolled over all of them with k accesses per execution (`ld`'s two planes):
            // m = E/w. Not otherwise: the four loads of `load_a` that nvcc files under its first
            // line (4 LDG for 1 to 3 executions per warp of a rolled loop: 2 at L = 4K, 3 at 8K)
            // are no copies.
            let per_warp = if w > 0.0 { e_chain[c].unwrap_or(0.0) / w } else { 0.0 };
            let e = per_warp.round() as u64;
            let whole = (per_warp - per_warp.round()).abs() < 1e-9;
            if all == 1 && whole && e >= 4 && mem > e && mem % e == 0 {
                (e, false)
            } else {
                (all, false)
            }
        } else if mine.len() == 1 && mem >= 2 && w > 0.0 {
            // A line of one memory opcode, `mem` of them in the block (`const float r0 =
            // s_re[s0];` in a loop nvcc unrolled 4 times and the host kept rolled): with k
            // accesses per execution (the host's requests over its executions: 2 for `{cst[a],
            // cst[b]}`), mem / k copies when the line ran a whole multiple of that many times per
            // warp. Without it such a line bounds nothing (its E read as one copy) and a rolled
            // loop around it fell to its header's count (`hyena_tc_fft8192_f16mma_f32`'s column
            // loop: 6 per warp for 4 trips; the fused conv's inverse middle-pass stores, `st`'s
            // 16 `STS` per plane, 3 per warp for 2 passes). Not when it ran fewer times per warp
            // than that (`load_a`'s four loads filed under one line of a rolled loop of 1 to 3
            // trips: no copies), nor without the host's requests.
            let per_warp = e_chain[c].unwrap_or(0.0) / w;
            let e = per_warp.round() as u64;
            let whole = (per_warp - per_warp.round()).abs() < 1e-9;
            let k = requests_per_exec[c].map(|r| r.round() as u64).filter(|&k| k >= 1);
            match k {
                Some(k) if mem % k == 0 && mem / k >= 2 && whole && e >= mem / k && e % (mem / k) == 0 => (mem / k, false),
                _ => (1, false),
            }
        } else {
            (1, false)
        }
    };
    // Copies of a chain's work in *other* blocks of the same innermost loop: blocks that hold the
    // same opcodes of the chain (itself included). nvcc unrolled a loop whose iterations each
    // branch (a bounds test per point, a vector/scalar choice), so every iteration's copy sits in
    // basic blocks of its own; the host compiler, which keeps the loop rolled, counted the line
    // once per iteration of all of them together. Without this, each of R such copies could take
    // the line's whole count (R times its executions: the radix-16 P0 pass of the fused conv at
    // 4K, branch bwd9, cause 2). Only pieces of some substance are paired (a memory access or two
    // instructions or more): a lone `MOV` or `BRA` of a line in two blocks is as likely a piece
    // the compiler split off the statement as a copy of it. Identical copies on exclusive paths
    // (both arms of an `if`) also share the count, which then adds up to the line's executions.
    let twins = |b: usize, c: usize| -> u64 {
        let Some(lb) = innermost[b] else { return 1 };
        let mine = &ops[b][&c].0;
        let moves_data = mine.keys().any(|op| matches!(Pipe::of(op), Pipe::Global | Pipe::Shared | Pipe::Local));
        if !moves_data && mine.values().sum::<u64>() < 2 {
            return 1;
        }
        (0..nb)
            .filter(|&o| reach[o] && innermost[o] == Some(lb) && ops[o].get(&c).is_some_and(|x| x.0 == *mine))
            .count()
            .max(1) as u64
    };
    struct Use {
        chain: usize,
        /// Copies of the chain's work in the block, times its twin blocks in the loop: the block
        /// runs at most E/m times.
        m: u64,
        /// Copies in the block alone: what an unrolled body spends per execution (each twin
        /// spends its own share).
        m_block: u64,
        remainder: bool,
        all_pred: bool,
    }
    let uses: Vec<Vec<Use>> = (0..nb)
        .map(|b| {
            ops[b]
                .iter()
                .map(|(&chain, (_, all_pred))| {
                    let (m_block, remainder) = copies(b, chain);
                    let m = m_block * twins(b, chain);
                    Use { chain, m, m_block, remainder, all_pred: *all_pred }
                })
                .collect()
        })
        .collect();
    // Visit order: outside loops first (in order), then loops by decreasing unroll factor (the
    // copies in the block itself: twin blocks do not move a body ahead of the others).
    let mut order: Vec<usize> = (0..nb).filter(|&b| innermost[b].is_none()).collect();
    let mut looped: Vec<usize> = (0..nb).filter(|&b| innermost[b].is_some()).collect();
    looped.sort_by_key(|&b| {
        (
            std::cmp::Reverse(uses[b].iter().map(|u| u.m_block).max().unwrap_or(1)),
            b,
        )
    });
    order.extend(looped);
    let mut budget: Vec<Option<f64>> = e_chain.clone();
    let mut count = vec![0f64; nb];
    let mut is_join = vec![false; nb];
    // Whether a block's count came from lines of its own (not predicated, hoisted or borrowed).
    let mut firm_count = vec![false; nb];
    // A control-only join b runs at least as often as its busiest arm (below).
    let busiest = |b: usize, count: &[f64]| -> f64 { preds[b].iter().map(|&p| count[p]).fold(0.0, f64::max) };
    for &b in &order {
        if !reach[b] {
            continue;
        }
        if f.instrs[range(b)].iter().any(|i| i.base() == "CALL") {
            // nvcc calls subroutines only for the slow paths of division, reciprocal and 64-bit
            // division, branched around when the operands allow the inline fast path.
            continue;
        }
        let in_loop = innermost[b].is_some();
        // In a loop, a line executed at most once per warp does not bound the block: it is code
        // nvcc moved into the loop (a barrier merged into it, a hoisted computation), unless
        // it is a statement of the loop's own body (`in_body`).
        let latch_chain = innermost[b].and_then(|k| latch[k]).map(|c| &f.chains[c]);
        // The host's count of the latch's line (the loop's header), per warp: 2–4 at one trip
        // (`long_rows_bwd`'s pair loop 4, its middle-pass loop 2), trips + 2 for a `for` run
        // many times (the tensor-core DFT's transform loop: 18 at 16 trips).
        let latch_per_warp = innermost[b]
            .and_then(|k| latch[k])
            .and_then(|c| e_chain[c])
            .map(|e| if w > 0.0 { e / w } else { 0.0 });
        // A statement of the loop's own body that every warp ran exactly once: the loop runs at
        // most once per warp, whatever the unroll factor read from the line's opcodes (no whole
        // trips, no copies: the bound is E). Not when the header says the loop ran more than
        // once per warp (counted over 4 times per warp): then the line's single count is the
        // host's attribution, not the trip count (`hyena_tc_dft256_f16mma_f32`: g++ filed the
        // second of two adjacent loads under the first line and left its own line one
        // execution per warp, which held the 16-trip transform loop to one trip: 1.35 M
        // warp-instructions for a launch whose static loop alone is 12.4 M).
        let once_body = |u: &Use| -> bool {
            let e = e_chain[u.chain].unwrap_or(0.0);
            in_loop
                && w > 0.0
                && (e - w).abs() <= 1e-9 * w
                && latch_per_warp.is_none_or(|t| t <= 4.0 + 1e-9)
                && latch_chain.is_some_and(|l| in_body(&f.chains[u.chain], l))
        };
        let (bounding, firm): (Vec<&Use>, bool) = {
            let v: Vec<&Use> = uses[b]
                .iter()
                .filter(|u| {
                    budget[u.chain].is_some()
                        && !u.all_pred
                        && (!in_loop || e_chain[u.chain].unwrap_or(0.0) > w || once_body(u))
                        && !(in_loop && borrowed(b, u.chain))
                })
                .collect();
            let firm = !v.is_empty();
            // None: the block's lines are all predicated, hoisted or borrowed. Then every line
            // but the hoisted ones (run at most once per warp, not a statement of the loop's
            // body): `bwd_rows`' `load_tw` (once per warp) sits in the head of its middle passes'
            // row loop, beside only the predicated `if (j < cnt)` (4 per warp at 8K), and held
            // the loop and every block after its head to one trip per warp. Then every line.
            let v = if v.is_empty() {
                uses[b]
                    .iter()
                    .filter(|u| {
                        budget[u.chain].is_some()
                            && (!in_loop || e_chain[u.chain].unwrap_or(0.0) > w || once_body(u))
                    })
                    .collect()
            } else {
                v
            };
            let v = if v.is_empty() {
                uses[b]
                    .iter()
                    .filter(|u| budget[u.chain].is_some())
                    .collect()
            } else {
                v
            };
            (v, firm)
        };
        // A loop block runs as often as its most constrained line allows; whole per-warp trips of
        // an unrolled body (the rest is left to the remainder loop).
        let bound = |u: &Use| -> f64 {
            let e = budget[u.chain].unwrap_or(0.0);
            if once_body(u) {
                return e;
            }
            // Not for twin blocks: copies whose iterations run unevenly (the in-range points of
            // a P0 butterfly run, the others do not) share E evenly, fewer than once per warp
            // each, which whole trips would round down to zero.
            if in_loop && u.m > 1 && u.m == u.m_block && w > 0.0 {
                let per_warp = e / w;
                if (per_warp - per_warp.round()).abs() < 1e-9 {
                    // An unroll factor read from the gcd of the line's opcodes (no remainder copy
                    // to compare with) counts instructions, not executions: a line that issues k
                    // of each opcode per execution (`make_float2(b[i], b[m + i])`: 2 LDS) reads
                    // as k times its copies. More copies than the line's executions per warp
                    // cannot be (the block would never complete a trip while every warp ran the
                    // line): take the largest divisor of m that fits (`long_rows`' middle pass,
                    // one trip per warp at n2 = 4096: m = 32 read for 16 executions).
                    let m = if u.remainder { u.m } else { fit_divisor(u.m, per_warp.round() as u64) };
                    return w * (per_warp.round() / m as f64).floor();
                }
            }
            e / u.m as f64
        };
        // A join of control instructions only (the `BSYNC` where the arms of an `if` reconverge,
        // filed under a line of one arm) reached by forward edges: its line's count, but never
        // below its busiest arm (the flow step below keeps it at most their sum), for its line
        // may say nothing of it. The arm before it in the listing may be the one that never ran
        // (the fused forward's `keep` of a shared-memory copy of `a` at 16K, where `keep_a` is
        // false, zeroed the pass's DFT after the join), and the line may be a copy of a helper
        // that ran only through another call site (`split`'s `k == 0` inside the fused pair
        // loop: the join read 0 and the flow step zeroed the rest of the arm after it, 492
        // instructions of the in-register forward at 8K). Not for a block that the block before
        // it does not reach, an arm after a jump: the arms nvcc unswitched out of one loop body,
        // `long_cols`' pass-1 loads at 64K, would each take the count of the branch between them.
        let join = preds[b].len() >= 2
            && preds[b].iter().all(|&p| p < b)
            && f.instrs[range(b)].iter().all(|i| i.pipe() == Pipe::Control);
        let c = if bounding.is_empty() {
            // No counted line in the block: take the fall-through predecessor's count (a join:
            // its busiest arm, below).
            if join {
                0.0
            } else if b > 0 && reach[b - 1] {
                count[b - 1]
            } else {
                w
            }
        } else if in_loop {
            bounding
                .iter()
                .map(|u| bound(u))
                .fold(f64::INFINITY, f64::min)
        } else {
            // Outside loops a block runs at most once per warp, and every instruction of a
            // straight block issues for a warp that reaches it (divergent lines are predicated):
            // the line reached by the most warps gives the count. A line the host ran at most
            // once per warp (E ≤ warps) ran on E warps. A line it ran more often (E > warps: a
            // host loop nvcc unrolled into the block, 16 calls of a pair helper per warp) does
            // not say how many warps reached the block: 16 calls on half the warps read as
            // "every warp". Such lines give the count only when the block holds no line that ran
            // at most once per warp (E > 0, not all predicated, its count its own: `whole`).
            let once = |u: &Use| -> bool {
                let e = e_chain[u.chain].unwrap_or(0.0);
                e > 0.0 && e <= w && whole[u.chain] && !u.all_pred
            };
            // The entry block: every warp that entered runs it (its lines may be the kernel's
            // signature line, which the host counts by its prologue and epilogue blocks).
            let any_once = b != 0 && bounding.iter().any(|u| once(u));
            let c = bounding
                .iter()
                .filter(|u| !any_once || once(u))
                .map(|u| bound(u).min(w))
                .fold(0.0, f64::max);
            // A block that ends in a conditional branch runs at most as often as the host
            // evaluated the branch's line: at least once for every warp that reached it (a
            // condition inside `if (act)`, evaluated by the acting warps only: the fused conv's
            // `if (pr.u != 0)`). Not the line of a loop's backward branch (its `for` header):
            // the host may count a rotated header fewer times than warps enter the loop
            // (`bwd_reduce`'s `for (int i = 0; i < n; ++i)`, 8 for 16 warps at 2K).
            let branch = f.instrs[range(b)]
                .last()
                .filter(|i| i.base() == "BRA" && i.predicated)
                .and_then(|i| i.chain)
                .filter(|&ch| whole[ch] && !latch.contains(&Some(ch)))
                .and_then(|ch| e_chain[ch])
                .filter(|&e| e > 0.0);
            match branch {
                Some(e) if b != 0 => c.min(e),
                _ => c,
            }
        };
        // A block that is mostly copies the host never ran (another template instance, the
        // untaken arm of a runtime switch) does not run; the few instructions of executed lines
        // in it are code nvcc scheduled there.
        let (chained, dead) = f.instrs[range(b)]
            .iter()
            .filter_map(|i| i.chain.map(|c| (i, c)))
            .fold((0usize, 0usize), |(n, d), (i, c)| {
                let never = absent[c] && !i.predicated && i.pipe() != Pipe::Control && !ran_below[b];
                (n + 1, d + usize::from(unrun[c] || never))
            });
        let c = if 2 * dead > chained { 0.0 } else { c.max(0.0) };
        let c = if join { c.max(busiest(b, &count)) } else { c };
        count[b] = c;
        is_join[b] = join;
        firm_count[b] = firm && !join;
        if !in_loop {
            // Straight blocks do not spend budgets: nvcc attributes loop set-up code to the loop
            // header's line, whose count the host compiler knows only as header executions.
            continue;
        }
        // Only an unrolled body spends its lines' budgets (m × its count), so that nvcc's
        // remainder code (a rolled loop, or straight pieces inside an outer loop) gets what the
        // unrolled body left. A line in several blocks of one rolled loop (a loop header's test
        // and increment) or in nested loops bounds each block by its whole count.
        // Only a body whose unroll factor was read against a remainder copy spends: with no
        // remainder loop (m from the gcd of a line's opcodes, e.g. the two stores of a radix-2
        // butterfly) there is nothing to leave budget to, and spending starved the other blocks
        // that hold pieces of the same line (address arithmetic nvcc hoisted).
        if !uses[b].iter().any(|u| u.m_block > 1 && u.remainder) {
            continue;
        }
        for u in uses[b].iter().filter(|u| !borrowed(b, u.chain)) {
            if let Some(e) = budget[u.chain].as_mut() {
                *e = (*e - u.m_block as f64 * c).max(0.0);
            }
        }
    }
    // Flow: a block runs at most as often as control reaches it, the sum of its predecessors'
    // counts (the entry block: the warps). This bounds what the line counts cannot: a block of
    // arithmetic only (no access to read an unroll factor from) whose lines the host compiler
    // ran once per trip of a loop that nvcc unrolled into it, e.g. the twiddle products of an
    // FFT pass behind a runtime `if`. Loop heads (a backward edge in) and blocks after a CALL
    // (counted zero above) keep their count. Visited in address order: forward predecessors
    // are final when their successors are capped.
    let calls = |b: usize| f.instrs[range(b)].iter().any(|i| i.base() == "CALL");
    for b in 0..nb {
        // (A backward edge from a block control never reaches, the diverged-warp slow path of a
        // shuffle after `EXIT` jumping back to its re-entry label, makes no loop head: the tail
        // of `warp_sum`'s unrolled steps took the line's five-steps-per-call count.)
        if !reach[b] || preds[b].iter().any(|&p| reach[p] && (p >= b || calls(p))) {
            continue;
        }
        let cap: f64 = preds[b].iter().map(|&p| count[p]).sum::<f64>() + if b == 0 { w } else { 0.0 };
        // Copies nvcc made of one body (a test unswitched out of an unrolled loop: `long_rows_bwd`'s
        // `pr == 0`, two versions of its 16 points) carry the same lines, so each copy counts as
        // if it ran, and their join would take both counts. When b's predecessors are two or
        // more such copies (mostly the same chains) that all branch off one block g, control took
        // one of them per execution of g: b runs at most as often as g.
        let branched_off = match preds[b][..] {
            [first, _, ..] => preds[first].first().copied().filter(|&g| {
                !calls(g)
                    && preds[b].iter().all(|&p| {
                        // One predecessor, g; the same lines up to what nvcc scheduled into one
                        // copy only (the code after the loop): three quarters of the smaller
                        // copy's chains in common.
                        let (a, c) = (&ops[p], &ops[first]);
                        let common = a.keys().filter(|k| c.contains_key(k)).count();
                        preds[p] == [g] && g < p && common > 0 && 4 * common >= 3 * a.len().min(c.len())
                    })
            }),
            _ => None,
        };
        let cap2 = match branched_off {
            Some(g) => {
                // Control took one copy per execution of g, but the lines cannot say which: where
                // the copies' counts add up to more than g's, they share g's count in proportion
                // to their own (at `long_rows_bwd`'s B = 1 each ran "once per warp": half each,
                // where the `pr == 0` copy ran once and the other not at all; about right in
                // instructions, the copies being of one size).
                let sum: f64 = preds[b].iter().map(|&p| count[p]).sum();
                if sum > count[g] && sum > 0.0 {
                    let scale = count[g] / sum;
                    for &p in &preds[b] {
                        count[p] *= scale;
                    }
                }
                count[g]
            }
            None => f64::INFINITY,
        };
        // The join of a triangle: b's immediate dominator is one of its predecessors, a block
        // ending in a conditional branch whose other arm comes back to b (the `s == 0` test
        // around `pass_twiddle` before the DFT of a middle pass). Each run of the head sends
        // control to b once, by the arm or straight, so b runs at most as often as the head in
        // the same innermost loop; the sum above counts the head and the arm both. Only where
        // that sum binds (b's own lines allowed at least as much), and only for a head holding a
        // memory access (its count read from an unroll factor: a head counted low from a line
        // many blocks share would carry its error to the join; `out_reg`'s `t < L` tests).
        let head = idom.parent[b].filter(|&d| {
            d != b
                && preds[b].contains(&d)
                && succ[d].len() == 2
                && preds[b].iter().all(|&p| innermost[p] == innermost[b])
                && count[d] > 0.0
                && f.instrs[range(d)].last().is_some_and(|i| i.base() == "BRA" && i.predicated)
                && f.instrs[range(d)].iter().any(|i| matches!(i.pipe(), Pipe::Global | Pipe::Shared))
        });
        let cap3 = head.filter(|_| count[b] >= cap).map_or(f64::INFINITY, |d| count[d]);
        count[b] = count[b].min(cap).min(cap2).min(cap3);
        if is_join[b] {
            // A control-only join runs at most as often as the block that decides between its
            // arms, its immediate dominator in the same innermost loop, when that block's count
            // is its own lines' (not a borrowed or predicated line's): the sum above counts that
            // block's runs once per arm in an `if / else if` chain whose arms' lines each read
            // "every run" (the fused backward's `u == 0` pairs at 8K: 9 and 24 of 48 warps where
            // 3 ran). Then never below its busiest arm (above), now that its arms are final.
            if let Some(d) = idom.parent[b].filter(|&d| d < b && innermost[d] == innermost[b] && firm_count[d]) {
                count[b] = count[b].min(count[d]);
            }
            count[b] = count[b].max(busiest(b, &count));
        }
    }
    let mut est = Estimate {
        total: 0.0,
        per_pipe: [0.0; 10],
        per_instr: vec![0.0; n],
        unmatched_instrs: 0,
        global_load_ilp: 1.0,
    };
    if !f.entry {
        return est;
    }
    for b in 0..nb {
        for k in range(b) {
            let i = &f.instrs[k];
            est.per_instr[k] = count[b];
            est.total += count[b];
            est.per_pipe[i.pipe().index()] += count[b];
            if reach[b] && i.chain.is_none_or(|c| e_chain[c].is_none()) {
                est.unmatched_instrs += 1;
            }
        }
    }
    let (mut loads, mut execs) = (0.0, 0.0);
    for b in 0..nb {
        let k = f.instrs[range(b)]
            .iter()
            .filter(|i| matches!(i.base(), "LDG" | "LD" | "LDGSTS"))
            .count();
        if k > 0 {
            loads += count[b] * k as f64;
            execs += count[b];
        }
    }
    if execs > 0.0 {
        est.global_load_ilp = (loads / execs).max(1.0);
    }
    est
}

#[cfg(test)]
mod tests {
    use super::fit_divisor;

    #[test]
    fn fit_divisor_takes_the_largest_divisor_within_the_cap() {
        assert_eq!(fit_divisor(32, 16), 16);
        assert_eq!(fit_divisor(32, 40), 32);
        assert_eq!(fit_divisor(12, 5), 4);
        assert_eq!(fit_divisor(7, 6), 1);
        assert_eq!(fit_divisor(6, 0), 1);
    }
}
