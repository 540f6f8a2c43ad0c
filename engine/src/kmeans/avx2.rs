//! The kernel built for AVX2 + FMA, used when the CPU has them. This file holds the K-Means
//! code's only `unsafe`: calling functions compiled with `#[target_feature]`, which is sound
//! only on a CPU that has those features, checked here first.

#![cfg(target_arch = "x86_64")]

use super::kernel::{Chunk, ChunkState, LANES, general, unrolled};

/// Runs the chunk through the AVX2 + FMA build of the kernel when the CPU has both, and
/// gives the chunk back otherwise (the caller runs the baseline build).
pub(super) fn assign<'a>(
    groups: usize,
    chunk: Chunk<'a>,
    ct: &[[f64; LANES]],
    ct_flat: &[f64],
    st: &mut ChunkState,
) -> Option<Chunk<'a>> {
    if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    {
        return Some(chunk);
    }
    // SAFETY: the CPU supports AVX2 and FMA (checked above), the only features these
    // functions are compiled for; they are otherwise the safe kernels, unchanged.
    unsafe {
        match groups {
            1 => unrolled_avx2::<1>(chunk, ct, st),
            2 => unrolled_avx2::<2>(chunk, ct, st),
            3 => unrolled_avx2::<3>(chunk, ct, st),
            4 => unrolled_avx2::<4>(chunk, ct, st),
            _ => general_avx2(chunk, ct_flat, st),
        }
    }
    None
}

#[target_feature(enable = "avx2,fma")]
unsafe fn unrolled_avx2<const G: usize>(
    chunk: Chunk<'_>,
    ct: &[[f64; LANES]],
    st: &mut ChunkState,
) {
    unrolled::<G>(chunk, ct, st)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn general_avx2(chunk: Chunk<'_>, ct: &[f64], st: &mut ChunkState) {
    general(chunk, ct, st)
}
