//! End-to-end tests live in tests/*.rs (see README.md, "Tests").
