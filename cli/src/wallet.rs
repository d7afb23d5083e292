//! `taipei wallet …`: certificate tools. `conformance DIR` checks the certificate
//! pipeline against EU DCC test cases (dgc-testdata's layout).

mod conformance;

use std::path::Path;

pub fn run(argv: Vec<String>) -> Result<(), String> {
    match argv.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["conformance", dir] => {
            let run = conformance::run_dir(Path::new(dir))?;
            println!("{}", run.render());
            if run.failed() == 0 { Ok(()) } else { Err(format!("{} conformance case(s) failed", run.failed())) }
        }
        _ => Err("usage: taipei wallet conformance DIR".into()),
    }
}
