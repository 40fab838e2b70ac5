//! The `llm` backend: an OpenAI-compatible chat-completions client (llama.cpp's `llama-server`,
//! vLLM, OpenAI). Our own prompt asks for a JSON object of sentences (with a JSON schema in
//! `response_format`, dropped if the server refuses it); answers are parsed robustly (JSON, then the
//! last bracketed list, then one sentence a line) and validated. Timeouts, retries with backoff on
//! 429/5xx honouring Retry-After. The API key is sent but never printed (Debug redacts it).

use std::time::Duration;

use serde_json::{json, Value};

use crate::decomposer::{validate_sentences, Decomposer, Error as ValidationError};

/// Version of the prompt below; part of every cache key.
pub const PROMPT_VERSION: u32 = 1;

const SYSTEM_PROMPT: &str = "You split descriptions of human body motion into short sentences in time order. \
Rules: keep the subject in every sentence (\"a man walks, then jumps\" -> \"a man walks\", \"a man jumps\"); \
follow the order of events, not of words (\"before X, Y\" means Y happens first); expand repetitions \
(\"twice\" -> the sentence two times); keep actions done at the same time (\"while\") in one sentence; \
add an initial or final state sentence only if the description states one. Give 3 to 20 sentences if the \
description has that many steps, fewer if not. Answer with JSON only: {\"sentences\": [\"...\", \"...\"]}.";

/// Where and how to reach the server.
#[derive(Clone)]
pub struct LlmConfig {
    /// Base URL, e.g. `http://127.0.0.1:8080/v1` (`/chat/completions` is appended).
    pub endpoint: String,
    pub model: String,
    pub api_key: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts after the first on 429/5xx or a transport error.
    pub retries: u32,
    /// First backoff; doubles each retry (a Retry-After header wins).
    pub backoff: Duration,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl LlmConfig {
    pub fn new(endpoint: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }

    /// From `KETA_LLM_ENDPOINT`, `KETA_LLM_MODEL` (default "default") and `KETA_LLM_API_KEY`.
    pub fn from_env() -> Option<Self> {
        let endpoint = std::env::var("KETA_LLM_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())?;
        let model = std::env::var("KETA_LLM_MODEL").unwrap_or_else(|_| "default".into());
        let mut cfg = Self::new(endpoint, model);
        cfg.api_key = std::env::var("KETA_LLM_API_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        Some(cfg)
    }
}

/// Why an LLM answer could not be used (the reason a fallback reports).
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the server could not be reached or timed out: {0}")]
    Transport(String),
    #[error("the server answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the answer is not a list of sentences: {0}")]
    Unparsable(String),
    #[error("the answer's sentences are invalid: {0}")]
    Invalid(#[from] ValidationError),
}

pub struct LlmClient {
    cfg: LlmConfig,
    http: reqwest::blocking::Client,
}

impl LlmClient {
    pub fn new(cfg: LlmConfig) -> Result<Self, LlmError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| LlmError::Transport(e.to_string()))?;
        Ok(Self { cfg, http })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.cfg
    }

    fn request(&self, caption: &str, with_schema: bool) -> Value {
        let mut body = json!({
            "model": self.cfg.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": caption},
            ],
        });
        if with_schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "decomposition", "strict": true, "schema": {
                    "type": "object",
                    "properties": {"sentences": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 20}},
                    "required": ["sentences"],
                    "additionalProperties": false,
                }},
            });
        }
        body
    }

    /// One POST with retries; returns the message content.
    fn complete(&self, caption: &str) -> Result<String, LlmError> {
        let url = format!(
            "{}/chat/completions",
            self.cfg.endpoint.trim_end_matches('/')
        );
        let mut with_schema = true;
        let mut wait = self.cfg.backoff;
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .post(&url)
                .json(&self.request(caption, with_schema));
            if let Some(key) = &self.cfg.api_key {
                req = req.bearer_auth(key);
            }
            let retry_after = match req.send() {
                Err(e) => {
                    if attempt >= self.cfg.retries || e.is_timeout() {
                        return Err(LlmError::Transport(if e.is_timeout() {
                            format!("no answer within {:?}", self.cfg.timeout)
                        } else {
                            e.to_string()
                        }));
                    }
                    None
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok());
                    let text = resp
                        .text()
                        .map_err(|e| LlmError::Transport(e.to_string()))?;
                    if (200..300).contains(&status) {
                        let v: Value = serde_json::from_str(&text).map_err(|_| {
                            LlmError::Unparsable(format!(
                                "the response body is not JSON: {}",
                                snippet(&text)
                            ))
                        })?;
                        return v["choices"][0]["message"]["content"]
                            .as_str()
                            .map(str::to_string)
                            .ok_or_else(|| {
                                LlmError::Unparsable("no choices[0].message.content".into())
                            });
                    }
                    if status == 400 && with_schema {
                        // Servers without structured output reject response_format: ask again without it.
                        with_schema = false;
                        continue;
                    }
                    if !(status == 429 || status >= 500) || attempt >= self.cfg.retries {
                        return Err(LlmError::Status {
                            status,
                            body: snippet(&text),
                        });
                    }
                    after
                }
            };
            attempt += 1;
            let pause = retry_after
                .map(Duration::from_secs_f64)
                .unwrap_or(wait)
                .min(Duration::from_secs(60));
            std::thread::sleep(pause);
            wait *= 2;
        }
    }

    /// Sentences for `caption`, validated.
    pub fn decompose(&self, caption: &str) -> Result<Vec<String>, LlmError> {
        let content = self.complete(caption)?;
        Ok(validate_sentences(parse_sentences(&content)?)?)
    }
}

fn snippet(text: &str) -> String {
    let t: String = text.chars().take(200).collect();
    t.replace('\n', " ")
}

/// The sentences in a model's answer: a JSON object with `sentences` or a JSON array; else the last
/// bracketed list in the text; else one sentence a line (bullets and numbers stripped).
pub fn parse_sentences(content: &str) -> Result<Vec<String>, LlmError> {
    let strings = |v: &Value| -> Option<Vec<String>> {
        let list = v.get("sentences").unwrap_or(v).as_array()?;
        list.iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let trimmed = content.trim();
    if let Some(s) = serde_json::from_str::<Value>(trimmed)
        .ok()
        .as_ref()
        .and_then(strings)
    {
        return Ok(s);
    }
    if let (Some(open), Some(close)) = (trimmed.rfind('['), trimmed.rfind(']')) {
        let start = trimmed[..close].rfind('[').unwrap_or(open);
        if let Some(s) = serde_json::from_str::<Value>(&trimmed[start..=close])
            .ok()
            .as_ref()
            .and_then(strings)
        {
            return Ok(s);
        }
    }
    let lines: Vec<String> = trimmed
        .lines()
        .map(|l| {
            l.trim()
                .trim_start_matches(|c: char| {
                    c == '-' || c == '*' || c == '.' || c == ')' || c.is_ascii_digit()
                })
                .trim()
                .trim_matches('"')
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty()
        || lines
            .iter()
            .any(|l| l.starts_with('{') || l.starts_with('['))
    {
        return Err(LlmError::Unparsable(snippet(trimmed)));
    }
    Ok(lines)
}

/// The `llm` backend with the rules as fallback: never fails for a valid caption.
pub struct WithFallback {
    pub client: LlmClient,
}

/// A decomposition and, when the LLM could not be used, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub sentences: Vec<String>,
    pub fallback: Option<String>,
}

impl WithFallback {
    pub fn decompose(&self, caption: &str) -> Outcome {
        match self.client.decompose(caption) {
            Ok(sentences) => Outcome {
                sentences,
                fallback: None,
            },
            Err(e) => Outcome {
                sentences: crate::rules::decompose(caption),
                fallback: Some(e.to_string()),
            },
        }
    }

    /// Many captions with at most `workers` requests in flight; results in input order.
    pub fn decompose_many(
        &self,
        captions: &[String],
        workers: usize,
        mut progress: impl FnMut(usize),
    ) -> Vec<Outcome> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut out: Vec<Option<Outcome>> = vec![None; captions.len()];
        std::thread::scope(|scope| {
            for _ in 0..workers.clamp(1, 32) {
                let (tx, next) = (tx.clone(), &next);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= captions.len() {
                        break;
                    }
                    let _ = tx.send((i, self.decompose(&captions[i])));
                });
            }
            drop(tx);
            for (done, (i, outcome)) in rx.iter().enumerate() {
                out[i] = Some(outcome);
                progress(done + 1);
            }
        });
        out.into_iter()
            .map(|o| o.expect("every caption answered"))
            .collect()
    }
}

impl Decomposer for WithFallback {
    fn backend(&self) -> &str {
        "llm"
    }

    fn decompose(&self, caption: &str) -> Result<Vec<String>, ValidationError> {
        validate_sentences(WithFallback::decompose(self, caption).sentences)
    }
}

#[cfg(test)]
#[path = "openai_tests.rs"]
mod tests;
