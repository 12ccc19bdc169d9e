//! Prints this machine's ceilings: compute peaks per instruction set, read bandwidth at
//! L2-, L3- and DRAM-sized buffers, and the cost of one parallel region. With `--model`,
//! also each model's speed limits on this machine:
//! - decode: bytes read per token (weights, one embedding row, the KV cache at that
//!   depth) over the read bandwidth at that working-set size;
//! - prefill: operations per token of a 512-token prompt over the compute peak (f32 FMA;
//!   and the 16-bit integer dot peak, what ingot's integer GEMM runs on x86).
//!
//!   cargo run --release --example roofline -- [--threads N] [--model PATH]... [--bytes N]...
//!
//! A last line per model, `limits <path> <decode@0> <decode@512> <prefill512>` (tok/s),
//! is for scripts (`benches/compare.sh`).

use std::path::PathBuf;

use clap::Parser;
use ingot::roofline::{read_bandwidth, Roofline};
use ingot::{ComputeMode, LoadOptions, Model};

mod common;

/// Largest `--bytes` buffer: the measurement allocates and fills it.
const MAX_BYTES: usize = 4 << 30;

#[derive(Parser)]
#[command(about = "Measure this machine's compute and bandwidth ceilings")]
struct Args {
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// A model whose speed limits to print (repeatable).
    #[arg(long)]
    model: Vec<PathBuf>,
    /// Also measure the read bandwidth at a buffer of this many bytes (repeatable).
    #[arg(long)]
    bytes: Vec<usize>,
}

fn main() {
    let args = Args::parse();
    common::set_threads(args.threads).unwrap_or_else(|e| common::fail(e));
    if let Some(&b) = args.bytes.iter().find(|&&b| b == 0 || b > MAX_BYTES) {
        common::fail(format!("--bytes {b} must be between 1 and {MAX_BYTES}"));
    }
    let models: Vec<Model> = args
        .model
        .iter()
        .map(|p| {
            Model::load(
                p,
                LoadOptions {
                    mode: ComputeMode::Native,
                },
            )
            .unwrap_or_else(|e| common::fail(format!("{}: {e}", p.display())))
        })
        .collect();
    let roof = Roofline::measure();
    println!("{roof}");
    for &b in &args.bytes {
        println!(
            "read bandwidth at {:.1} MB: {:.1} GB/s",
            b as f64 / 1e6,
            read_bandwidth(b)
        );
    }
    let peak = roof.peak(roof.isa).expect("the kernels' ISA is supported");
    for (path, model) in args.model.iter().zip(&models) {
        println!("\n{}", path.display());
        let mut decode = [0.0; 2];
        for (slot, depth) in decode.iter_mut().zip([0, 512]) {
            let cost = model.pass_cost(depth, 1);
            let gbps = read_bandwidth(cost.bytes() as usize);
            *slot = gbps * 1e9 / cost.bytes() as f64;
            println!(
                "  decode at depth {depth:>3}: {:.1} MB/token ({:.1} MB weights), {gbps:.1} GB/s at that size -> {:.0} tok/s",
                cost.bytes() as f64 / 1e6,
                cost.weight_bytes as f64 / 1e6,
                *slot
            );
        }
        let cost = model.pass_cost(0, 512);
        let per_token = cost.ops() as f64 / 512.0;
        let prefill = peak.fma_gflops * 1e9 / per_token;
        println!(
            "  prefill 512: {:.0} Mop/token -> {prefill:.0} tok/s at the f32 FMA peak, {:.0} at the int16 dot peak ({})",
            per_token / 1e6,
            peak.int16_gops * 1e9 / per_token,
            roof.isa.name()
        );
        println!(
            "limits {} {:.1} {:.1} {:.1}",
            path.display(),
            decode[0],
            decode[1],
            prefill
        );
    }
}
