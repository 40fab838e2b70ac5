//! The client against a real HTTP server on 127.0.0.1, started by each test, answering well, slowly,
//! with 500/429/400, malformed JSON, prose around a list, or not at all.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

#[derive(Clone)]
enum Reply {
    /// 200 with this message content.
    Content(&'static str),
    /// A status with an optional Retry-After (seconds).
    Status(u16, Option<u64>),
    /// 200 with this raw body.
    Body(&'static str),
    /// Wait, then answer.
    Slow(u64, &'static str),
    /// Read the request and never answer (until the test ends).
    Hang,
}

/// Requests the server saw: (headers lowercased, body).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Serves `replies` in order (the last one repeats); returns the base URL.
fn serve(replies: Vec<Reply>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (k, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let reply = replies[k.min(replies.len() - 1)].clone();
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    headers.push_str(&line.to_lowercase());
                }
                let len = headers
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                log.lock()
                    .unwrap()
                    .push((headers, String::from_utf8_lossy(&body).into_owned()));
                let respond = |stream: &mut std::net::TcpStream,
                               status: u16,
                               extra: &str,
                               body: &str| {
                    let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                };
                let content = |c: &str| {
                    json!({"choices": [{"message": {"role": "assistant", "content": c}}]})
                        .to_string()
                };
                match reply {
                    Reply::Content(c) => respond(&mut stream, 200, "", &content(c)),
                    Reply::Status(s, after) => {
                        let extra = after
                            .map(|a| format!("Retry-After: {a}\r\n"))
                            .unwrap_or_default();
                        respond(&mut stream, s, &extra, "{\"error\": \"busy\"}")
                    }
                    Reply::Body(b) => respond(&mut stream, 200, "", b),
                    Reply::Slow(ms, c) => {
                        std::thread::sleep(Duration::from_millis(ms));
                        respond(&mut stream, 200, "", &content(c))
                    }
                    Reply::Hang => std::thread::sleep(Duration::from_secs(30)),
                }
            });
        }
    });
    (url, seen)
}

fn client(url: &str) -> LlmClient {
    let mut cfg = LlmConfig::new(url, "test-model");
    cfg.timeout = Duration::from_millis(800);
    cfg.backoff = Duration::from_millis(50);
    cfg.retries = 2;
    LlmClient::new(cfg).unwrap()
}

const GOOD: &str = r#"{"sentences": ["a man walks forward", "a man jumps"]}"#;

#[test]
fn a_good_answer_is_used_and_the_request_carries_schema_model_and_key() {
    let (url, seen) = serve(vec![Reply::Content(GOOD)]);
    let mut cfg = client(&url).config().clone();
    cfg.api_key = Some("sk-secret-123".into());
    assert!(
        !format!("{cfg:?}").contains("sk-secret-123"),
        "the key never shows in Debug"
    );
    let c = LlmClient::new(cfg).unwrap();
    assert_eq!(
        c.decompose("a man walks forward, then jumps").unwrap(),
        ["a man walks forward", "a man jumps"]
    );
    let (headers, body) = seen.lock().unwrap()[0].clone();
    assert!(headers.contains("authorization: bearer sk-secret-123"));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(
        body["messages"][1]["content"],
        "a man walks forward, then jumps"
    );
}

#[test]
fn prose_around_a_list_and_numbered_lines_are_parsed() {
    let (url, _) = serve(vec![Reply::Content(
        "Sure! Here it is: [\"a man walks\", \"a man sits\"] Hope this helps.",
    )]);
    assert_eq!(
        client(&url).decompose("x").unwrap(),
        ["a man walks", "a man sits"]
    );
    let (url, _) = serve(vec![Reply::Content(
        "1. a man walks\n2) a man sits\n- a man stands",
    )]);
    assert_eq!(
        client(&url).decompose("x").unwrap(),
        ["a man walks", "a man sits", "a man stands"]
    );
}

#[test]
fn server_errors_and_rate_limits_are_retried_honouring_retry_after() {
    let (url, seen) = serve(vec![Reply::Status(500, None), Reply::Content(GOOD)]);
    assert_eq!(client(&url).decompose("x").unwrap().len(), 2);
    assert_eq!(seen.lock().unwrap().len(), 2);
    let (url, _) = serve(vec![Reply::Status(429, Some(1)), Reply::Content(GOOD)]);
    let start = Instant::now();
    assert!(client(&url).decompose("x").is_ok());
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        start.elapsed()
    );
    let (url, seen) = serve(vec![Reply::Status(503, None)]);
    let e = client(&url).decompose("x").unwrap_err().to_string();
    assert!(e.contains("HTTP 503"), "{e}");
    assert_eq!(seen.lock().unwrap().len(), 3, "one try and two retries");
}

#[test]
fn a_server_without_structured_output_is_asked_again_plainly() {
    let (url, seen) = serve(vec![Reply::Status(400, None), Reply::Content(GOOD)]);
    assert!(client(&url).decompose("x").is_ok());
    let bodies: Vec<Value> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert!(
        bodies[0].get("response_format").is_some() && bodies[1].get("response_format").is_none()
    );
}

#[test]
fn slow_hanging_garbage_and_missing_servers_fall_back_to_rules_in_time() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let cases = [
        (serve(vec![Reply::Slow(3000, GOOD)]).0, "no answer within"),
        (serve(vec![Reply::Hang]).0, "no answer within"),
        (serve(vec![Reply::Body("{not json")]).0, "not JSON"),
        (
            serve(vec![Reply::Content("{\"sentences\": []}")]).0,
            "1 to 20 sentences",
        ),
        (down, "could not be reached"),
    ];
    for (url, why) in cases {
        let backend = WithFallback {
            client: client(&url),
        };
        let start = Instant::now();
        let out = backend.decompose("a man walks, then jumps");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{why}: took {:?}",
            start.elapsed()
        );
        assert_eq!(
            out.sentences,
            ["a man walks", "a man jumps"],
            "the rules answer"
        );
        let reason = out.fallback.expect("a fallback reason");
        assert!(reason.contains(why), "{reason}");
    }
}

#[test]
fn many_captions_keep_their_order_with_bounded_concurrency() {
    let (url, seen) = serve(vec![Reply::Slow(100, GOOD)]);
    let backend = WithFallback {
        client: client(&url),
    };
    let captions: Vec<String> = (0..9).map(|i| format!("caption {i}")).collect();
    let start = Instant::now();
    let mut done = 0;
    let out = backend.decompose_many(&captions, 3, |n| done = n);
    assert_eq!(out.len(), 9);
    assert_eq!(done, 9);
    assert!(out.iter().all(|o| o.fallback.is_none()));
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "3 at a time: {:?}",
        start.elapsed()
    );
    let asked: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["messages"][1]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(asked.len(), 9);
}

/// Against a real llama.cpp server: `scripts/llama-server.sh &`, then
/// `KETA_LLM_ENDPOINT=http://127.0.0.1:8080/v1 cargo test -p llm_decompose -- --ignored llama`.
/// The small model's content is poor; the test checks the protocol, parsing and validation.
#[test]
#[ignore = "needs a running llama-server (scripts/llama-server.sh)"]
fn llama_server_answers_with_valid_sentences_or_a_clear_fallback() {
    let cfg = LlmConfig::from_env().expect("set KETA_LLM_ENDPOINT");
    let backend = WithFallback {
        client: LlmClient::new(cfg).unwrap(),
    };
    let out = backend.decompose("a man walks forward, then jumps twice");
    assert!(!out.sentences.is_empty() && out.sentences.len() <= 20);
    if let Some(why) = out.fallback {
        panic!("the server's answer was not usable: {why}");
    }
}
