//! Per-line execution counts: map the basic-block PCs the runtime counted to source locations
//! with their inlining chains, from the DWARF of the running executable (`/proc/self/exe`).
//!
//! The kernel translation units are compiled with `-fsanitize-coverage=trace-pc`, which puts a
//! call of `__sanitizer_cov_trace_pc` at the start of every basic block; the runtime counts per
//! (return address, lane). A block's code runs from its hook call to the next hook call in the same
//! function (found by scanning the function's bytes for `call rel32` to the hook; functions from
//! the symbol table). Every distinct location chain of the block's first instruction and of the
//! line-table rows in that range marked as statement starts (`is_stmt`) gets the block's count (a
//! block spanning several lines counts once for each of them). Rows without `is_stmt` are
//! instructions the host compiler moved away from their statement (scheduled into a loop, a branch
//! arm, the block before): counting them counted a line once more for every block that holds a
//! piece of it (a store after an unrolled loop once per trip). A chain that only such rows name
//! (no statement start of it in any block run) keeps the count of those blocks.

use crate::counters::LineCount;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

extern "C" {
    fn cudasim_block_counts(pc: *mut u64, warp: *mut u64, thread: *mut u64, cap: usize) -> usize;
    fn cudasim_site_requests(site: *mut u64, requests: *mut u64, cap: usize) -> usize;
    fn cudasim_trace_pc_address() -> usize;
}

type Slice = gimli::EndianSlice<'static, gimli::LittleEndian>;

struct Symbolizer {
    ctx: addr2line::Context<Slice>,
    /// runtime address - file virtual address
    bias: u64,
    /// file virtual address of `__sanitizer_cov_trace_pc`
    hook: u64,
    /// (vaddr, file bytes) of the executable sections
    text: Vec<(u64, &'static [u8])>,
    /// function symbols: (start, end) sorted
    funcs: Vec<(u64, u64)>,
    /// file addresses of the line-table rows that start a statement (`is_stmt`) in the kernel
    /// translation units, sorted
    stmts: Vec<u64>,
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

struct Section {
    name: String,
    kind: u32,
    flags: u64,
    addr: u64,
    data: &'static [u8],
    link: u32,
}

/// The sections of a little-endian ELF64 file.
fn sections(file: &'static [u8]) -> Option<Vec<Section>> {
    if file.get(0..4)? != b"\x7fELF" || *file.get(4)? != 2 || *file.get(5)? != 1 {
        return None;
    }
    let shoff = u64_at(file, 0x28)? as usize;
    let shentsize = u16_at(file, 0x3a)? as usize;
    let shnum = u16_at(file, 0x3c)? as usize;
    let shstrndx = u16_at(file, 0x3e)? as usize;
    let raw = |i: usize| -> Option<(u32, u32, u64, u64, u64, u64, u32)> {
        let o = shoff + i * shentsize;
        Some((
            u32_at(file, o)?,
            u32_at(file, o + 4)?,
            u64_at(file, o + 8)?,
            u64_at(file, o + 16)?,
            u64_at(file, o + 24)?,
            u64_at(file, o + 32)?,
            u32_at(file, o + 40)?,
        ))
    };
    let (_, _, _, _, stroff, strsize, _) = raw(shstrndx)?;
    let strtab = file.get(stroff as usize..(stroff + strsize) as usize)?;
    let mut v = Vec::with_capacity(shnum);
    for i in 0..shnum {
        let (name, kind, flags, addr, off, size, link) = raw(i)?;
        let n = strtab.get(name as usize..)?;
        let n = &n[..n.iter().position(|&c| c == 0).unwrap_or(n.len())];
        // SHT_NOBITS (8) has no file bytes.
        let data = if kind == 8 { &[][..] } else { file.get(off as usize..(off + size) as usize).unwrap_or(&[]) };
        v.push(Section { name: String::from_utf8_lossy(n).into_owned(), kind, flags, addr, data, link });
    }
    Some(v)
}

fn load() -> Option<Symbolizer> {
    let bytes = std::fs::read("/proc/self/exe").ok()?;
    let file: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let secs = sections(file)?;
    // Function symbols, and the hook's file address (SHT_SYMTAB = 2).
    let symtab = secs.iter().find(|s| s.kind == 2)?;
    let strtab = secs.get(symtab.link as usize)?.data;
    let mut funcs = Vec::new();
    let mut hook = None;
    for sym in symtab.data.chunks_exact(24) {
        let name = u32_at(sym, 0)? as usize;
        let info = sym[4];
        let value = u64_at(sym, 8)?;
        let size = u64_at(sym, 16)?;
        if info & 0xf == 2 && value != 0 {
            funcs.push((value, value + size.max(1)));
            let n = strtab.get(name..)?;
            if n.starts_with(b"__sanitizer_cov_trace_pc\0") {
                hook = Some(value);
            }
        }
    }
    funcs.sort_unstable();
    let hook = hook?;
    // SAFETY: plain call into the runtime (returns a function address).
    let bias = (unsafe { cudasim_trace_pc_address() } as u64).wrapping_sub(hook);
    // Executable sections (SHF_EXECINSTR = 4) with file bytes.
    let text = secs.iter().filter(|s| s.flags & 4 != 0 && !s.data.is_empty()).map(|s| (s.addr, s.data)).collect();
    // Compressed debug sections (SHF_COMPRESSED) are not supported: no line counts then.
    let find = |name: &str| -> &'static [u8] {
        secs.iter().find(|s| s.name == name && s.flags & 0x800 == 0).map(|s| s.data).unwrap_or(&[])
    };
    let dwarf = gimli::Dwarf::load(|id: gimli::SectionId| -> Result<Slice, gimli::Error> {
        Ok(gimli::EndianSlice::new(find(id.name()), gimli::LittleEndian))
    })
    .ok()?;
    let stmts = statement_starts(&dwarf);
    let ctx = addr2line::Context::from_dwarf(dwarf).ok()?;
    Some(Symbolizer { ctx, bias, hook, text, funcs, stmts })
}

/// Addresses of the `is_stmt` rows of the kernel translation units (the build helper names them
/// `tu_<n>_<stem>.cpp`; other units are skipped, which keeps this cheap in large executables).
fn statement_starts(dwarf: &gimli::Dwarf<Slice>) -> Vec<u64> {
    let mut v = Vec::new();
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else { continue };
        let is_kernel_tu = unit
            .name
            .map(|n| {
                let n = n.slice();
                let base = n.rsplit(|&c| c == b'/').next().unwrap_or(n);
                base.starts_with(b"tu_") && base.ends_with(b".cpp")
            })
            .unwrap_or(false);
        let Some(program) = unit.line_program.clone().filter(|_| is_kernel_tu) else { continue };
        let mut rows = program.rows();
        while let Ok(Some((_, row))) = rows.next_row() {
            if row.is_stmt() && !row.end_sequence() {
                v.push(row.address());
            }
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Loaded once per process (addr2line's context is not `Sync`: behind a mutex).
fn symbolizer() -> Option<&'static Mutex<Symbolizer>> {
    static S: OnceLock<Option<Mutex<Symbolizer>>> = OnceLock::new();
    S.get_or_init(|| load().map(Mutex::new)).as_ref()
}

impl Symbolizer {
    /// End (file vaddr) of the basic block whose hook call returns to `ret`: the next hook call in
    /// the same function, else the function's end.
    fn block_end(&self, ret: u64) -> u64 {
        if !cfg!(target_arch = "x86_64") {
            // The scan below decodes x86-64 `call rel32`; elsewhere only the hook call's own
            // location is attributed.
            return ret;
        }
        let fi = self.funcs.partition_point(|f| f.0 <= ret);
        let fend = if fi > 0 && ret < self.funcs[fi - 1].1 { self.funcs[fi - 1].1 } else { ret + 1 };
        let Some(&(base, data)) = self.text.iter().find(|(a, d)| *a <= ret && ret < a + d.len() as u64) else {
            return ret + 1;
        };
        let lim = fend.min(base + data.len() as u64);
        let mut a = ret;
        while a + 5 <= lim {
            let o = (a - base) as usize;
            if data[o] == 0xe8 {
                let rel = i32::from_le_bytes([data[o + 1], data[o + 2], data[o + 3], data[o + 4]]) as i64;
                if (a as i64 + 5 + rel) as u64 == self.hook {
                    return a;
                }
            }
            a += 1;
        }
        lim
    }

    fn chain(&self, addr: u64) -> Vec<(String, u32)> {
        let mut v = Vec::new();
        if let Ok(mut it) = self.ctx.find_frames(addr).skip_all_loads() {
            while let Ok(Some(f)) = it.next() {
                if let Some(loc) = f.location {
                    if let (Some(file), Some(line)) = (loc.file, loc.line) {
                        v.push((file.to_string(), line));
                    }
                }
            }
        }
        v
    }
}

/// Per-location counts of the last counted launch (empty when the executable has no usable
/// line information).
pub(crate) fn last_launch_lines() -> Vec<LineCount> {
    // SAFETY: a null buffer with capacity 0 only asks for the count.
    let n = unsafe { cudasim_block_counts(std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), 0) };
    if n == 0 {
        return Vec::new();
    }
    let (mut pc, mut w, mut t) = (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
    // SAFETY: three buffers of n entries.
    let n = n.min(unsafe { cudasim_block_counts(pc.as_mut_ptr(), w.as_mut_ptr(), t.as_mut_ptr(), n) });
    let Some(s) = symbolizer() else { return Vec::new() };
    let s = s.lock().unwrap_or_else(|e| e.into_inner());
    type Acc = BTreeMap<Vec<(String, u32)>, (u64, u64)>;
    // `stmt`: chains of the block's start and its statement starts; `all`: of every row (the
    // fallback for chains no statement start names).
    let (mut stmt, mut all): (Acc, Acc) = (BTreeMap::new(), BTreeMap::new());
    let add = |acc: &mut Acc, chains: BTreeSet<Vec<(String, u32)>>, i: usize| {
        for c in chains.into_iter().filter(|c| !c.is_empty()) {
            let e = acc.entry(c).or_default();
            e.0 += w[i];
            e.1 += t[i];
        }
    };
    for i in 0..n {
        let ret = pc[i].wrapping_sub(s.bias);
        let start = ret.saturating_sub(5); // the `call rel32` of the hook
        let end = s.block_end(ret).max(ret);
        let mut rows: BTreeSet<Vec<(String, u32)>> = BTreeSet::new();
        if let Ok(r) = s.ctx.find_location_range(start, end) {
            for (addr, _len, _loc) in r {
                rows.insert(s.chain(addr.max(start)));
            }
        }
        let mut starts: BTreeSet<Vec<(String, u32)>> = BTreeSet::new();
        starts.insert(s.chain(start));
        let lo = s.stmts.partition_point(|&a| a < start);
        for &a in s.stmts[lo..].iter().take_while(|&&a| a < end) {
            starts.insert(s.chain(a));
        }
        rows.extend(starts.iter().cloned());
        add(&mut stmt, starts, i);
        add(&mut all, rows, i);
    }
    // Memory requests per access site (the return address of a TSan hook call): the chain of the
    // call instruction, the byte before the return address.
    let mut reqs: BTreeMap<Vec<(String, u32)>, u64> = BTreeMap::new();
    // SAFETY: as above, a null buffer with capacity 0 only asks for the count.
    let ns = unsafe { cudasim_site_requests(std::ptr::null_mut(), std::ptr::null_mut(), 0) };
    if ns > 0 {
        let (mut site, mut r) = (vec![0u64; ns], vec![0u64; ns]);
        // SAFETY: two buffers of ns entries.
        let ns = ns.min(unsafe { cudasim_site_requests(site.as_mut_ptr(), r.as_mut_ptr(), ns) });
        for i in 0..ns {
            let c = s.chain(site[i].wrapping_sub(s.bias).saturating_sub(1));
            if !c.is_empty() {
                *reqs.entry(c).or_default() += r[i];
            }
        }
    }
    // An access's chain is a row of the block holding it, so every one is among `all`.
    all.into_iter()
        .map(|(frames, fallback)| {
            let (warp_execs, thread_execs) = stmt.get(&frames).copied().unwrap_or(fallback);
            let mem_requests = reqs.get(&frames).copied().unwrap_or(0);
            LineCount { frames, warp_execs, thread_execs, mem_requests }
        })
        .collect()
}
