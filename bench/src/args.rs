//! A minimal command-line parser for the benchmark binaries (`--name value` options and
//! `--flag` switches), so that they need no argument-parsing dependency.

use std::str::FromStr;

/// The arguments of a benchmark binary, consumed option by option; [`Args::finish`] rejects
/// whatever is left (a misspelt option must not silently measure the wrong thing).
#[derive(Debug)]
pub struct Args {
    items: Vec<String>,
    usage: &'static str,
}

impl Args {
    /// The process's arguments (without the program name); `usage` is shown with every error.
    pub fn from_env(usage: &'static str) -> Self {
        let items: Vec<String> = std::env::args().skip(1).collect();
        if items.iter().any(|a| a == "--help" || a == "-h") {
            println!("{usage}");
            std::process::exit(0);
        }
        Args { items, usage }
    }

    /// Arguments from a list, for tests.
    pub fn from_vec(items: Vec<String>, usage: &'static str) -> Self {
        Args { items, usage }
    }

    /// Removes the switch `--name` and says whether it was there.
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.items.len();
        self.items.retain(|a| a != name);
        self.items.len() != before
    }

    /// Removes `--name VALUE` and parses the value, or returns `default` without it.
    pub fn value<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        Ok(self.optional(name)?.unwrap_or(default))
    }

    /// Removes `--name VALUE` and parses the value, if the option is there.
    pub fn optional<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        let Some(i) = self.items.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if i + 1 >= self.items.len() {
            return Err(format!("{name} needs a value\n{}", self.usage));
        }
        let value = self.items.remove(i + 1);
        self.items.remove(i);
        value
            .parse()
            .map(Some)
            .map_err(|_| format!("bad value for {name}: {value:?}\n{}", self.usage))
    }

    /// Fails if any argument was not consumed.
    pub fn finish(self) -> Result<(), String> {
        if self.items.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "unexpected arguments: {}\n{}",
                self.items.join(" "),
                self.usage
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    #[test]
    fn options_and_flags() {
        let items = ["--port", "9", "--deflate", "--size", "16"];
        let mut args = Args::from_vec(items.iter().map(|s| s.to_string()).collect(), "usage");
        assert!(args.flag("--deflate"));
        assert!(!args.flag("--text"));
        assert_eq!(args.value("--port", 0u16), Ok(9));
        assert_eq!(args.value("--window", 16usize), Ok(16));
        assert_eq!(args.optional::<usize>("--size"), Ok(Some(16)));
        assert!(args.finish().is_ok());
    }

    #[test]
    fn leftovers_and_bad_values_are_errors() {
        let mut args = Args::from_vec(vec!["--port".into(), "x".into()], "usage");
        assert!(args.value("--port", 0u16).is_err());
        let args = Args::from_vec(vec!["--prot".into()], "usage");
        assert!(args.finish().is_err());
    }
}
