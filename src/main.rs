//! Binary entry point: parses the command line and hands off to the library.

fn main() {
    match siptrunk_operator::crd::to_yaml() {
        Ok(y) => print!("{y}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
