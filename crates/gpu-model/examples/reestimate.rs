//! Re-run the executed-instruction estimate offline on a `HYENA_PROFILE_DUMP` dump (a debugging
//! aid for the estimator, no simulator needed):
//!
//! ```text
//! cargo run -p gpu-model --example reestimate -- LISTING KERNEL.lines.txt WARPS [blocks|instrs|chains LO HI]
//! ```
//! LISTING: the compact sm_90 listing (`$OUT_DIR/sass_sm90.txt` of the hyena-kernels build);
//! KERNEL.lines.txt: the dump's joined line counts (`COUNT ["file:line", ...]` per line, innermost
//! first; the memory requests of KERNEL.requests.txt beside it are read too when present); WARPS: the warps that entered the kernel in the sampled blocks (the count of the
//! entry block in the dump's `KERNEL.est.txt`). Prints the total; with `blocks`, every run of
//! instructions with one count (basic blocks, neighbours of equal count merged): first index,
//! length, count; with `instrs`, every instruction's count, one per line. The kernel is the file name's stem.
use gpu_model::sass::{estimate, joined_counts, LineExec, Listing};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: reestimate LISTING KERNEL.lines.txt WARPS [blocks]".into());
    }
    let listing = Listing::parse(&std::fs::read_to_string(&args[1])?)?;
    let kernel = std::path::Path::new(&args[2])
        .file_name()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_suffix(".lines.txt"))
        .ok_or("the counts file must be KERNEL.lines.txt")?;
    let f = listing.function(kernel).ok_or("kernel not in the listing")?;
    let warps: u64 = args[3].parse()?;
    // `COUNT [chain]` lines of a dump file, as (chain, count).
    let read = |path: &str| -> Result<Vec<(Vec<(String, u32)>, u64)>, Box<dyn std::error::Error>> {
        let mut v = Vec::new();
        for l in std::fs::read_to_string(path)?.lines() {
            let (n, rest) = l.split_once(' ').ok_or("bad counts line")?;
            let frames = rest
                .trim_matches(|c| c == '[' || c == ']')
                .split(", ")
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let s = s.trim_matches('"');
                    let (file, line) = s.rsplit_once(':').ok_or("bad frame")?;
                    Ok::<_, Box<dyn std::error::Error>>((file.to_string(), line.parse()?))
                })
                .collect::<Result<Vec<_>, _>>()?;
            v.push((frames, n.parse()?));
        }
        Ok(v)
    };
    // The host's memory requests per chain, from KERNEL.requests.txt beside the counts (absent:
    // unknown, 0).
    let req_path = args[2].replace(".lines.txt", ".requests.txt");
    let requests: std::collections::HashMap<Vec<(String, u32)>, u64> =
        if std::path::Path::new(&req_path).exists() { read(&req_path)?.into_iter().collect() } else { Default::default() };
    let mut lines = Vec::new();
    for (frames, n) in read(&args[2])? {
        let mem_requests = requests.get(&frames).copied().unwrap_or(0);
        lines.push(LineExec { frames, warp_execs: n, mem_requests });
    }
    let e = estimate(f, &lines, warps);
    println!("{kernel}: {:.0} warp-instructions for {warps} warps", e.total);
    if args.get(4).map(String::as_str) == Some("instrs") {
        for c in &e.per_instr {
            println!("{c}");
        }
    }
    if args.get(4).map(String::as_str) == Some("chains") {
        // `chains LO HI`: per location chain of instructions LO..HI, its instructions there, the
        // joined count E and E per warp.
        let lo: usize = args.get(5).ok_or("chains LO HI")?.parse()?;
        let hi: usize = args.get(6).ok_or("chains LO HI")?.parse()?;
        let e_chain = joined_counts(f, &lines);
        let mut per: std::collections::BTreeMap<Option<usize>, u64> = Default::default();
        for i in &f.instrs[lo..hi.min(f.instrs.len())] {
            *per.entry(i.chain).or_default() += 1;
        }
        let mut rows: Vec<_> = per.into_iter().collect();
        rows.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        for (c, n) in rows {
            let e = c.and_then(|c| e_chain[c]);
            let name = c
                .map(|c| f.chains[c].iter().map(|fr| format!("{}:{}", fr.file, fr.line)).collect::<Vec<_>>().join("<"))
                .unwrap_or_default();
            match e {
                Some(e) => println!("{n:5} {e:10.1} {:8.2} {name}", e / warps as f64),
                None => println!("{n:5} {:>10} {:>8} {name}", "-", "-"),
            }
        }
    }
    if args.get(4).map(String::as_str) == Some("blocks") {
        let mut start = 0;
        for k in 1..=f.instrs.len() {
            let split = k == f.instrs.len()
                || e.per_instr[k] != e.per_instr[start]
                || f.labels.values().any(|&i| i == k)
                || matches!(f.instrs[k - 1].opcode.split('.').next(), Some("BRA" | "EXIT" | "BRX" | "RET"));
            if split {
                println!("{start:6} {:4} {:>14.1}", k - start, e.per_instr[start]);
                start = k;
            }
        }
    }
    Ok(())
}
