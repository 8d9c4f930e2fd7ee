// Makes sure ../dist exists so the embedded-asset macro compiles before the frontend
// is built (native `cargo test` of the backend does not need the page).
fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    if !dist.exists() {
        std::fs::create_dir_all(&dist).expect("create ../dist");
    }
    println!("cargo:rerun-if-changed=../dist");
}
