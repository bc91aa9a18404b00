//! The programs' command lines, read with `lexopt`: each program matches the options it knows
//! in a function of its own and takes values through the helpers here, so that every program
//! answers `-h`/`--help` and a bad command line the same way.
//!
//! ```no_run
//! use atomic_stock_measure::args::{self, Arg, Parser};
//! use std::process::ExitCode;
//!
//! struct Options {
//!     threads: usize,
//! }
//!
//! fn read(parser: &mut Parser) -> Result<Options, args::Error> {
//!     let mut options = Options { threads: 2 };
//!     while let Some(arg) = parser.next()? {
//!         match arg {
//!             Arg::Long("threads") => {
//!                 options.threads = args::number_in(parser, "--threads", 1..=256)?;
//!             }
//!             Arg::Short('h') | Arg::Long("help") => return Err(args::help()),
//!             _ => return Err(arg.unexpected()),
//!         }
//!     }
//!     Ok(options)
//! }
//!
//! fn main() -> ExitCode {
//!     let options = match args::parse("program", "usage: program [--threads 2]", read) {
//!         Ok(options) => options,
//!         Err(exit) => return exit,
//!     };
//!     // ...
//!     ExitCode::SUCCESS
//! }
//! ```

pub use lexopt::{Arg, Error, Parser, ValueExt};
use std::fmt::{self, Debug, Display};
use std::ops::RangeInclusive;
use std::process::ExitCode;
use std::str::FromStr;

/// Reads the program's command line with `read`. On `-h` or `--help` (`read` returned
/// [`help()`]) prints `usage` on stdout and returns `Err(ExitCode::SUCCESS)`; on a bad command
/// line prints what is wrong and `usage` on stderr and returns `Err(ExitCode::from(2))`. `main`
/// returns that code.
pub fn parse<T>(
    program: &str,
    usage: &str,
    read: impl FnOnce(&mut Parser) -> Result<T, Error>,
) -> Result<T, ExitCode> {
    match read(&mut Parser::from_env()) {
        Ok(options) => Ok(options),
        Err(Error::Custom(error)) if error.is::<Help>() => {
            println!("{usage}");
            Err(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{program}: {error}\n{usage}");
            Err(ExitCode::from(2))
        }
    }
}

/// What `read` returns for `-h` or `--help`.
pub fn help() -> Error {
    Error::Custom(Box::new(Help))
}

#[derive(Debug)]
struct Help;

impl Display for Help {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("help asked for")
    }
}

impl std::error::Error for Help {}

/// The value of the option just read, as text.
pub fn text(parser: &mut Parser) -> Result<String, Error> {
    parser.value()?.string()
}

/// The value of option `flag`, a number in `range`.
pub fn number_in<T>(parser: &mut Parser, flag: &str, range: RangeInclusive<T>) -> Result<T, Error>
where
    T: FromStr + PartialOrd + Debug,
{
    number(&text(parser)?, flag, &range)
}

/// The value of option `flag`, a comma-separated list of numbers in `range`.
pub fn numbers_in<T>(
    parser: &mut Parser,
    flag: &str,
    range: RangeInclusive<T>,
) -> Result<Vec<T>, Error>
where
    T: FromStr + PartialOrd + Debug,
{
    text(parser)?
        .split(',')
        .map(|item| number(item, flag, &range))
        .collect()
}

/// `text` (an option's value or an operand, named `what` in the error), a number in `range`.
pub fn number<T>(text: &str, what: &str, range: &RangeInclusive<T>) -> Result<T, Error>
where
    T: FromStr + PartialOrd + Debug,
{
    match text.trim().parse::<T>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(format!("{what}: expected a number in {range:?}, got {text:?}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads_and_sizes(args: &[&str]) -> Result<(usize, Vec<u32>, Vec<String>), Error> {
        let mut parser = Parser::from_args(args.iter().copied());
        let (mut threads, mut sizes, mut operands) = (2, vec![1], Vec::new());
        while let Some(arg) = parser.next()? {
            match arg {
                Arg::Long("threads") => threads = number_in(&mut parser, "--threads", 1..=8)?,
                Arg::Long("sizes") => sizes = numbers_in(&mut parser, "--sizes", 1..=16)?,
                Arg::Short('h') | Arg::Long("help") => return Err(help()),
                Arg::Value(value) => operands.push(value.string()?),
                _ => return Err(arg.unexpected()),
            }
        }
        Ok((threads, sizes, operands))
    }

    #[test]
    fn options_values_and_operands() {
        let (threads, sizes, operands) =
            threads_and_sizes(&["--threads", "4", "--sizes=1,4,16", "take-1"]).unwrap();
        assert_eq!(
            (threads, sizes, operands),
            (4, vec![1, 4, 16], vec!["take-1".to_string()])
        );
    }

    #[test]
    fn bad_command_lines_say_why() {
        let error = threads_and_sizes(&["--threads", "9"])
            .unwrap_err()
            .to_string();
        assert_eq!(error, "--threads: expected a number in 1..=8, got \"9\"");
        assert!(threads_and_sizes(&["--sizes", "1,x"]).is_err());
        assert!(threads_and_sizes(&["--threads"]).is_err());
        assert!(threads_and_sizes(&["--nope"]).is_err());
        let help = threads_and_sizes(&["--help"]).unwrap_err();
        assert!(matches!(help, Error::Custom(e) if e.is::<Help>()));
    }
}
