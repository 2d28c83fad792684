//! Rebuilds the relay when the files it embeds for `--demo` change (`src/api/embedded.rs`):
//! the demo page, and the npm package's SDK build, which may appear after the first build
//! (`make sdk`). The embedding macro sees only the files present when it runs.

fn main() {
    println!("cargo:rerun-if-changed=../examples/chat");
    // `npm/dist` may not exist yet: watching `npm` notices it appearing (cargo scans a
    // directory's files for changes).
    if std::path::Path::new("../npm/dist").is_dir() {
        println!("cargo:rerun-if-changed=../npm/dist");
        for f in ["index.js", "comet.js", "load.js", "package.json"] {
            println!("cargo:rerun-if-changed=../npm/{f}");
        }
    } else {
        println!("cargo:rerun-if-changed=../npm");
    }
}
