//! A tiny argument reader: the CLI's flags are few, so a parser crate is not worth
//! its build time.

/// Flags and positional arguments of one subcommand.
#[derive(Debug, Default)]
pub struct Args {
    rest: Vec<String>,
}

impl Args {
    pub fn new(argv: Vec<String>) -> Self {
        Self { rest: argv }
    }

    /// Takes `--name VALUE` if present.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        let Some(i) = self.rest.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if i + 1 >= self.rest.len() {
            return Err(format!("{name} needs a value"));
        }
        let value = self.rest.remove(i + 1);
        self.rest.remove(i);
        Ok(Some(value))
    }

    /// Takes a bare `--name` switch.
    pub fn flag(&mut self, name: &str) -> bool {
        match self.rest.iter().position(|a| a == name) {
            Some(i) => {
                self.rest.remove(i);
                true
            }
            None => false,
        }
    }

    /// Takes the first positional argument (a subcommand), if any.
    pub fn positional_first(&mut self) -> Option<String> {
        let i = self.rest.iter().position(|a| !a.starts_with("--"))?;
        Some(self.rest.remove(i))
    }

    /// The positional arguments left; an unknown flag among them is an error.
    pub fn positional(self) -> Result<Vec<String>, String> {
        if let Some(flag) = self.rest.iter().find(|a| a.starts_with("--")) {
            return Err(format!("unknown option {flag}"));
        }
        Ok(self.rest)
    }
}

/// One tokio runtime per CLI invocation.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
