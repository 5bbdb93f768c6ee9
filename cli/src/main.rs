use std::process::ExitCode;

fn main() -> ExitCode {
    stratus_cli::main(std::env::args_os())
}
