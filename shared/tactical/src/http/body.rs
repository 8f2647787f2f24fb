//! Answers read within bounds: capped bodies, decoded JSON, beta pages and software rows streamed
//! row by row, and agent replies checked.

use super::{MAX_SOFTWARE_ROW, SOFTWARE_ALL_TIMEOUT, body_limit};
use crate::json_stream::{ArraySplitter, PageSplitter};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use shared::tactical::SoftwareRows;
use shared::tactical::TacticalError;
use shared::tactical::types::*;
use std::collections::VecDeque;
use std::time::Duration;

/// Reads a body chunk by chunk, stopping at `limit` bytes (`Content-Length` is a hint a hostile
/// server may omit or lie about). Over the limit: `None`, or with `truncate` the first `limit`
/// bytes.
pub(super) async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
    truncate: bool,
) -> Result<Option<bytes::Bytes>, reqwest::Error> {
    let announced = resp.content_length().and_then(|n| usize::try_from(n).ok());
    if announced.is_some_and(|n| n > limit) && !truncate {
        return Ok(None);
    }
    let mut buf = bytes::BytesMut::with_capacity(announced.unwrap_or(0).min(limit));
    while let Some(chunk) = resp.chunk().await? {
        let room = limit.saturating_sub(buf.len());
        if chunk.len() > room {
            if !truncate {
                return Ok(None);
            }
            buf.extend_from_slice(chunk.get(..room).unwrap_or_default());
            return Ok(Some(buf.freeze()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, TacticalError> {
    serde_json::from_slice(bytes).map_err(|e| TacticalError::Decode { what, detail: e.to_string() })
}

/// Tactical's agent actions answer bare JSON strings, and some failures come back as 200
/// (docs/tactical-behaviour.md): `"natsdown"` (broker down) and, from a waited-for script, `"timeout"`.
pub(super) fn agent_reply(bytes: &[u8], what: &'static str, timeout_is_failure: bool) -> Result<String, TacticalError> {
    let text: String = decode(bytes, what)?;
    match text.as_str() {
        "natsdown" => Err(TacticalError::BrokerDown),
        "timeout" if timeout_is_failure => Err(TacticalError::AgentTimeout),
        _ => Ok(text),
    }
}

/// Tactical's alert changes answer the JSON string `"ok"`.
pub(super) fn expect_ok(bytes: &[u8], what: &'static str) -> Result<(), TacticalError> {
    match decode::<String>(bytes, what)?.as_str() {
        "ok" => Ok(()),
        other => Err(TacticalError::Decode {
            what,
            detail: format!("expected \"ok\", got {:?}", truncate_chars(other, 100)),
        }),
    }
}

pub(super) fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Tactical's `notify_error` answers (400 + JSON string) of agent actions, typed.
pub(super) fn agent_failure(e: TacticalError) -> TacticalError {
    match e {
        TacticalError::Rejected { status: 400, message } => match message.as_str() {
            "Unable to contact the agent" => TacticalError::AgentUnreachable,
            "natsdown" => TacticalError::BrokerDown,
            "timeout" => TacticalError::AgentTimeout,
            _ => TacticalError::Rejected { status: 400, message },
        },
        other => other,
    }
}

/// Agent ids go into the path: refuse what would change the route (Tactical answers HTML 404 for
/// ids shorter than 21 characters anyway).
pub(super) fn check_agent_id(agent_id: &str, route: &str) -> Result<(), TacticalError> {
    if agent_id.len() < 21
        || agent_id.chars().any(|c| matches!(c, '/' | '?' | '#' | '%') || c.is_whitespace() || c.is_control())
    {
        return Err(TacticalError::NotFound {
            path: route.into(),
            detail: Some("agent ids have at least 21 characters and no /, ?, # or %".into()),
        });
    }
    Ok(())
}

/// `GET /software/<agent_id>/` answers the agent's row, or `[]` when it has no inventory yet.
pub(super) fn decode_software_answer(bytes: &[u8]) -> Result<Option<Vec<SoftwareItem>>, TacticalError> {
    const WHAT: &str = "GET /software/<agent_id>/";
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(Some(decode::<SoftwareRow>(bytes, WHAT)?.software)),
        Some(b'[') => Ok(decode::<Vec<SoftwareRow>>(bytes, WHAT)?.into_iter().next().map(|r| r.software)),
        _ => Err(TacticalError::Decode { what: WHAT, detail: "expected an object or []".into() }),
    }
}

/// Largest head of a beta page (`count`, `next`, `previous` come before `results`).
pub(super) const MAX_PAGE_HEAD: usize = 16 * 1024;
/// Largest beta agent row: a real Windows row is ~150 KB; a row 25 times that is refused.
pub(super) const MAX_AGENT_ROW: usize = 4 * 1024 * 1024;

/// Tactical serves at most 1000 rows a page.
pub(super) const MAX_PAGE_ROWS: usize = 1000;

/// The head of a DRF page.
#[derive(serde::Deserialize)]
pub(super) struct PageHead {
    pub(super) count: u64,
    #[serde(default)]
    pub(super) next: Option<String>,
    #[serde(default)]
    pub(super) previous: Option<String>,
}

/// Decodes a beta agent page row by row as the body arrives: memory is bounded by one row
/// (at most [`MAX_AGENT_ROW`]) and the lean rows kept, whatever the page weighs.
pub(super) async fn read_beta_page(
    resp: reqwest::Response,
    timeout: Duration,
) -> Result<BetaPage<BetaAgent>, TacticalError> {
    const WHAT: &str = "GET /beta/v1/agent/";
    let undecodable = |e: crate::json_stream::SplitError| TacticalError::Decode { what: WHAT, detail: e.to_string() };
    let mut body = resp.bytes_stream();
    const PATH: &str = "beta/v1/agent/";
    let mut splitter = PageSplitter::new(MAX_PAGE_HEAD, MAX_AGENT_ROW);
    let mut results = Vec::new();
    // Rows are bounded one by one; the page as a whole too, or an endless stream of small rows
    // would grow `results` until the timeout.
    let limit = body_limit(PATH);
    let mut received = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) if e.is_timeout() => return Err(TacticalError::Timeout(timeout)),
            Err(_) => return Err(TacticalError::Interrupted { what: WHAT }),
        };
        received = received.saturating_add(chunk.len());
        if received > limit || results.len() > MAX_PAGE_ROWS {
            return Err(TacticalError::BodyTooLarge { path: PATH.to_owned(), limit });
        }
        for raw in splitter.push(&chunk).map_err(undecodable)? {
            results.push(decode::<BetaAgent>(&raw, WHAT)?);
        }
    }
    let head: PageHead = decode(&splitter.finish().map_err(undecodable)?, WHAT)?;
    Ok(BetaPage { count: head.count, next: head.next, previous: head.previous, results })
}

/// State of the `GET /software/` row stream.
pub(super) struct RowStream {
    pub(super) body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    pub(super) splitter: ArraySplitter,
    pub(super) ready: VecDeque<Vec<u8>>,
    pub(super) ended: bool,
}

pub(super) fn software_rows(resp: reqwest::Response) -> SoftwareRows {
    const WHAT: &str = "GET /software/";
    let st = RowStream {
        body: resp.bytes_stream().boxed(),
        splitter: ArraySplitter::new(MAX_SOFTWARE_ROW),
        ready: VecDeque::new(),
        ended: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(raw) = st.ready.pop_front() {
                return Some((decode::<SoftwareRow>(&raw, WHAT), st));
            }
            if st.ended {
                return None;
            }
            let failure = match st.body.next().await {
                Some(Ok(chunk)) => match st.splitter.push(&chunk) {
                    Ok(elems) => {
                        st.ready.extend(elems);
                        continue;
                    }
                    Err(e) => TacticalError::Decode { what: WHAT, detail: e.to_string() },
                },
                Some(Err(e)) if e.is_timeout() => TacticalError::Timeout(SOFTWARE_ALL_TIMEOUT),
                Some(Err(_)) => TacticalError::Interrupted { what: WHAT },
                None => match st.splitter.finish() {
                    Ok(()) => {
                        st.ended = true;
                        continue;
                    }
                    Err(e) => TacticalError::Decode { what: WHAT, detail: e.to_string() },
                },
            };
            st.ended = true;
            return Some((Err(failure), st));
        }
    })
    .boxed()
}
