#![no_main]

static QUIET: std::sync::Once = std::sync::Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A panic that the product catches (inside a third-party reader) is not a crash: silence
    // libFuzzer's aborting panic hook. An uncaught panic still aborts and is saved.
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    histoscore_domain::fuzzing::serial(data)
});
