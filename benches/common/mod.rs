//! What the benchmark binaries share: reading `--name N` from the command line.

use std::str::FromStr;

/// The value after `name` on the command line (`cargo bench --bench X -- name N`), or
/// `default` when `name` is absent. Panics with the flag's name when the value is missing
/// or not a number.
pub fn flag<T: FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => default,
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} takes a number: {name} N")),
    }
}
