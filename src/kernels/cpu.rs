//! Which instruction set the kernels use, detected once at run time.
//!
//! A crate that depends on ingot gets the fast paths without `-C target-cpu=native`:
//! kernels are compiled for several ISAs with `#[target_feature]` and the best one the CPU
//! supports is chosen here, once. `INGOT_ISA=scalar|avx2|avx512|neon` forces a path (if
//! the CPU has it), so that every path can be tested on one machine.

use std::sync::OnceLock;

/// An instruction-set level, from slowest to fastest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Portable Rust; the reference every SIMD path is tested against.
    Scalar,
    /// AArch64 Advanced SIMD.
    Neon,
    /// x86-64 AVX2 + FMA (+ F16C).
    Avx2,
    /// x86-64 AVX-512 F/BW/VL with VNNI (`vpdpbusd`), + FMA and F16C.
    Avx512,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Neon => "neon",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    fn from_name(s: &str) -> Option<Isa> {
        [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .find(|i| i.name() == s)
    }

    /// Whether this CPU can run `self`.
    pub fn supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.supported()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// `self` if this CPU supports it, else `Scalar`. Every kernel entry point passes the
    /// `Isa` it is given through this, so no caller can run instructions the CPU lacks.
    #[inline]
    pub fn checked(self) -> Isa {
        static SUPPORTED: OnceLock<[bool; 4]> = OnceLock::new();
        let table = SUPPORTED
            .get_or_init(|| [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512].map(Isa::supported));
        let i = match self {
            Isa::Scalar => 0,
            Isa::Neon => 1,
            Isa::Avx2 => 2,
            Isa::Avx512 => 3,
        };
        if table[i] {
            self
        } else {
            Isa::Scalar
        }
    }

    /// The best ISA this CPU supports.
    pub fn best() -> Isa {
        [Isa::Avx512, Isa::Avx2, Isa::Neon]
            .into_iter()
            .find(|i| i.supported())
            .unwrap_or(Isa::Scalar)
    }
}

/// The ISA in use: `INGOT_ISA` if set (and supported), else the best available. Decided
/// on first call and fixed for the life of the process.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = Isa::best();
        match std::env::var("INGOT_ISA") {
            Ok(name) => match Isa::from_name(name.trim()) {
                Some(want) if want.supported() => want,
                Some(want) => {
                    eprintln!("ingot: INGOT_ISA={} is not supported by this CPU; using {}", want.name(), best.name());
                    best
                }
                None => {
                    eprintln!("ingot: unknown INGOT_ISA={name:?} (scalar, avx2, avx512, neon); using {}", best.name());
                    best
                }
            },
            Err(_) => best,
        }
    })
}

/// Every ISA this CPU supports, slowest first (for tests that compare paths).
pub fn supported_isas() -> Vec<Isa> {
    [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|i| i.supported())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_paths_fall_back_to_scalar() {
        for isa in [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512] {
            let c = isa.checked();
            assert!(c == isa || c == Isa::Scalar);
            assert_eq!(c == isa, isa.supported());
        }
        #[cfg(target_arch = "x86_64")]
        assert_eq!(Isa::Neon.checked(), Isa::Scalar);
        assert!(supported_isas().contains(&isa()));
    }
}
