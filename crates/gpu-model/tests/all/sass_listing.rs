//! The nvdisasm parser on a captured listing (tests/fixtures/micro_sm90.sass: nvcc 13.0
//! `-cubin -arch=sm_90 -O3 -lineinfo` of tests/kernels/micro.cu, nvdisasm 13.5.37 `-gi -c`, folders
//! stripped from the file names).

use gpu_model::sass::{Frame, Listing, Pipe};
use std::path::Path;
use std::process::Command;

const FIXTURE: &str = include_str!("../fixtures/micro_sm90.sass");

fn f(line: u32) -> Frame {
    Frame::new("micro.cu", line)
}

#[test]
fn parses_every_function_with_its_instructions() {
    let l = Listing::parse(FIXTURE).unwrap();
    let names: Vec<&str> = l.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "micro_called",
            "micro_unrolled",
            "micro_divergent",
            "micro_looped",
            "micro_straight"
        ]
    );
    assert!(l.functions.iter().all(|f| f.entry));
    // micro_straight: 15 instructions up to EXIT (/*0000*/../*00e0*/), the self-branch at 00f0,
    // then NOP padding to the 128-byte alignment (/*0100*/../*0170*/: 8).
    let s = l.function("micro_straight").unwrap();
    assert_eq!(s.instrs.len(), 15 + 1 + 8);
    assert_eq!(s.instrs[0].opcode, "LDC");
    assert_eq!(s.instrs[9].opcode, "LDG.E");
    assert_eq!(s.instrs[14].opcode, "EXIT");
    assert_eq!(s.instrs[15].opcode, "BRA");
    assert_eq!(s.instrs[15].target.as_deref(), Some(".L_x_8"));
    assert_eq!(s.labels.get(".L_x_8"), Some(&15));
    // /*0090*/ LDG.E follows `line 13`.
    assert_eq!(s.chains[s.instrs[9].chain.unwrap()], vec![f(13)]);
}

#[test]
fn inline_chains_predicates_and_branch_targets() {
    let l = Listing::parse(FIXTURE).unwrap();
    let c = l.function("micro_called").unwrap();
    // /*0090*/ FFMA R7, R0, R0, 0.5 under `line 7 inlined at line 47` then `line 47`.
    let ffma = &c.instrs[9];
    assert_eq!(ffma.opcode, "FFMA");
    assert_eq!(c.chains[ffma.chain.unwrap()], vec![f(7), f(47)]);
    let d = l.function("micro_divergent").unwrap();
    // /*00a0*/ @!P1 FMUL and /*00d0*/ @P1 MUFU.SIN are predicated; /*0040*/ PLOP3.LUT is not.
    assert!(d.instrs[10].predicated && d.instrs[10].opcode == "FMUL");
    assert!(d.instrs[13].predicated && d.instrs[13].opcode == "MUFU.SIN");
    assert!(!d.instrs[4].predicated);
    let lp = l.function("micro_looped").unwrap();
    // /*0060*/ @!P0 BRA `(.L_x_3): predicated, with its target; .L_x_5 starts the main loop at 0120.
    assert_eq!(lp.instrs[6].target.as_deref(), Some(".L_x_3"));
    assert!(lp.instrs[6].predicated);
    assert_eq!(lp.labels.get(".L_x_5"), Some(&(0x120 / 16)));
}

#[test]
fn opcode_pipes() {
    for (op, p) in [
        ("FFMA", Pipe::Fp32),
        ("HFMA2.MMA", Pipe::Fp32),
        ("IMAD.WIDE", Pipe::Int),
        ("LOP3.LUT", Pipe::Int),
        ("MUFU.SIN", Pipe::Mufu),
        ("F2F.BF16.F32", Pipe::Mufu),
        ("LDG.E.128", Pipe::Global),
        ("STS.64", Pipe::Shared),
        ("STL", Pipe::Local),
        ("BAR.SYNC.DEFER_BLOCKING", Pipe::Control),
        ("DFMA", Pipe::Fp64),
        ("HMMA.16816.F32", Pipe::Tensor),
        ("HMMA.1688.F32.TF32", Pipe::Tensor),
        ("HMMA.16816.F32.BF16", Pipe::Tensor),
        ("S2R", Pipe::Other),
        ("SHFL.BFLY", Pipe::Other),
    ] {
        assert_eq!(Pipe::of(op), p, "{op}");
    }
    // micro_divergent (hand count from the listing): FP32 = FMUL ×3, FMUL.RZ, FSETP, FADD ×2 = 7;
    // MUFU: SIN, EX2 = 2.
    let l = Listing::parse(FIXTURE).unwrap();
    let st = l.function("micro_divergent").unwrap().static_per_pipe();
    assert_eq!(
        st[0], 7,
        "fp32: FMUL 00a0, FMUL.RZ 00b0, FSETP 00c0, FMUL 0110, FADD 0120, FMUL 0140, FADD 0150"
    );
    assert_eq!(st[3], 2);
}

#[test]
fn compact_form_reads_back_to_the_same_table() {
    let l = Listing::parse(FIXTURE).unwrap();
    let compact = l.to_compact();
    assert!(
        compact.len() < FIXTURE.len() / 2,
        "{} vs {}",
        compact.len(),
        FIXTURE.len()
    );
    assert_eq!(Listing::parse(&compact).unwrap(), l);
}

#[test]
fn malformed_listing_is_a_typed_error() {
    let bad = "//----- .text.k -----\nk:\n//## File \"a.cu\", line x\n/*0000*/ EXIT ;\n";
    assert!(matches!(
        Listing::parse(bad),
        Err(gpu_model::ModelError::Listing { line: 3, .. })
    ));
    let bad = "//----- .text.k -----\nk:\n/*0000*/ exit ;\n";
    assert!(Listing::parse(bad).is_err());
}

/// The hand counts in tests/all/estimate.rs were read off the committed listing; this rebuilds it with
/// the provisioned nvcc + nvdisasm (scripts/provision; both set in .toolchain/env.sh) and checks
/// that the compiler still emits the same instructions. Without the toolchain it says so and
/// checks nothing else.
#[test]
fn fixture_matches_the_pinned_compiler() {
    let (Some(nvcc), Some(nvdisasm)) = (std::env::var_os("NVCC"), std::env::var_os("NVDISASM"))
    else {
        eprintln!("NVCC / NVDISASM not set (source .toolchain/env.sh): fixture not re-derived");
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("kernels");
    let out = std::env::temp_dir().join(format!("gpu_model_micro_{}.cubin", std::process::id()));
    let st = Command::new(&nvcc)
        .args(["-cubin", "-arch=sm_90", "-O3", "-lineinfo", "-o"])
        .arg(&out)
        .arg("micro.cu")
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(st.success(), "nvcc failed");
    let text = Command::new(&nvdisasm)
        .args(["-gi", "-c"])
        .arg(&out)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(text.status.success(), "nvdisasm failed");
    let fresh = Listing::parse(&String::from_utf8_lossy(&text.stdout)).unwrap();
    assert_eq!(
        fresh,
        Listing::parse(FIXTURE).unwrap(),
        "re-capture tests/fixtures/micro_sm90.sass and re-derive the hand counts"
    );
}
