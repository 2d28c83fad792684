fn main() { eprintln!("cometa-bench: not written yet (see the benchmark issue)"); }
