//! Prints this machine's ceilings: compute peaks per instruction set, read bandwidth at
//! L2-, L3- and DRAM-sized buffers, and the cost of one parallel region.
//!
//!   cargo run --release --example roofline -- [--threads N] [--bytes N]...
//!
//! `--bytes N` adds the read bandwidth at an N-byte buffer (e.g. a model's bytes per
//! token).

use clap::Parser;

mod common;

/// Largest `--bytes` buffer: the measurement allocates and fills it.
const MAX_BYTES: usize = 4 << 30;

#[derive(Parser)]
#[command(about = "Measure this machine's compute and bandwidth ceilings")]
struct Args {
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
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
    println!("{}", ingot::roofline::Roofline::measure());
    for &b in &args.bytes {
        let gbps = ingot::roofline::read_bandwidth(b);
        println!("read bandwidth at {:.1} MB: {gbps:.1} GB/s", b as f64 / 1e6);
    }
}
