//! The `leadsprint` binary: parse, set up logging, run, report errors and exit.

mod cli;

use std::process::ExitCode;

// Import and merge allocate many small strings; mimalloc halves their cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How a command ends whose reader closed standard output early (`| head`): the
/// status a shell reports for a process ended by SIGPIPE, and no message.
const EXIT_BROKEN_PIPE: u8 = 141;

fn main() -> ExitCode {
    end_quietly_on_broken_stdout();
    let args = cli::parse();
    cli::init_tracing(&args);
    match cli::run(args) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::from(EXIT_BROKEN_PIPE),
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}

/// SIGPIPE stays ignored (Rust's default): a server or client writing to a peer
/// that has gone gets an error it handles, instead of the whole process being
/// killed. Standard output closed by its reader (`leadsprint quarantine | head`)
/// makes `println!` panic; that one panic ends the process quietly instead.
fn end_quietly_on_broken_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(i32::from(EXIT_BROKEN_PIPE));
        }
        default(info);
    }));
}

/// Whether `err` comes from writing to a pipe its reader closed.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
