//! libFuzzer entry point; the input format and the invariants are in `src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    certbot_django_hooks_fuzz::key_pem(data);
});
