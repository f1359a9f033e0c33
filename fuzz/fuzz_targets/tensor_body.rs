#![no_main]

#[global_allocator]
static ALLOC: songforge_fuzz_targets::alloc_cap::CappedAllocator =
    songforge_fuzz_targets::alloc_cap::CappedAllocator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| songforge_fuzz_targets::tensor_body(data));
