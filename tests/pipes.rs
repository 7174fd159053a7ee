//! Closed connections never kill the process: a reader that closes standard output
//! early (`| head`) ends a command quietly, and a client that drops a large
//! download mid-body leaves `serve` running.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;

use crate::support::{Sandbox, call, messy, served_url, spawn};

fn store_with(people: usize) -> Sandbox {
    let sb = Sandbox::new();
    let (text, _) = messy::file(people);
    assert_eq!(sb.import(&sb.write("messy.csv", text)).code, 0);
    sb
}

#[test]
fn a_reader_that_closes_stdout_early_ends_the_command_quietly() {
    let sb = store_with(3000);
    for args in [
        &["export", "csv", "--out", "-"][..],
        &["export", "jsonl", "--out", "-"],
        &["search", "--limit", "1000"],
    ] {
        let mut child =
            sb.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        // The reader is gone (dropped above): the next writes hit a closed pipe.
        let out = child.wait_with_output().expect("wait");
        assert!(!first.is_empty(), "{args:?}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?} ends without a message");
    }
}

#[test]
fn a_client_dropping_a_large_download_leaves_the_server_running() {
    let sb = store_with(3000);
    let mut serve =
        spawn(sb.command(&["serve", "--bind", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null()));
    let url = served_url(&mut serve).trim_end_matches('/').to_owned();
    let address = url.trim_start_matches("http://").to_owned();
    for _ in 0..5 {
        let mut stream = std::net::TcpStream::connect(&address).expect("connect");
        write!(
            stream,
            "GET /api/export?format=jsonl HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut some = [0u8; 4096];
        let read = stream.read(&mut some).expect("the download starts");
        assert!(read > 0);
        // Gone mid-body, with most of the export unread: closing with unread data
        // makes the kernel answer the server's next writes with a reset.
        drop(stream);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(matches!(serve.try_wait(), Ok(None)), "serve died");
    let (status, health) = call(reqwest::Method::GET, &format!("{url}/healthz"), None);
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
}
