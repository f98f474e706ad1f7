//! Process-wide settings of the candle runtime that binaries apply at start-up.

/// Configures candle's CPU threading for ftnn's workloads; call it first thing in `main`,
/// before any tensor exists and before other threads start. Variables the user has set win.
///
/// * `CANDLE_NUM_THREADS=1` — candle splits *elementwise* ops over ≥ 64 K elements across a
///   spinning barrier pool. ftnn's hot loops are its own, and on a machine with other load the
///   spinning costs far more than the split saves: an MNIST training epoch of 784-100-50-10
///   took 4.4× longer with that pool at two threads than at one on the 2-core development
///   machine (same numbers either way). GEMMs stay multi-threaded.
/// * `RAYON_NUM_THREADS` = candle's default (the physical core count) — without it candle
///   recomputes that count on *every* GEMM by parsing `/proc/cpuinfo`, which cost 7 % of a
///   training epoch.
pub fn configure_candle_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
}
