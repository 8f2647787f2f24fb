//! rmm_audit_log: one record for every side-effecting remote action. Written before the
//! call to Tactical (`pending`) and completed after it, so an action whose outcome could not be
//! recorded still leaves a trace; an action whose first record cannot be written is not sent.

use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Written before the call; a record left `pending` means the outcome was not recorded
    /// (the function died or the update failed): treat it as "may have run".
    Pending,
    Ok,
    Error,
}

/// Who started the action, and through which door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// Lambda Invoke by the workflow engine (IAM); the actor comes from the event.
    Workflow,
    /// The function URL with the PSA's JWT; the actor comes from the token.
    FunctionUrl,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub tenant: TenantId,
    /// Sorts by start time (sort key), then random bits.
    pub audit_id: String,
    /// Canonical action name, e.g. `agents.run_command`.
    pub action: String,
    pub actor_user_id: String,
    pub via: Via,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub asset_id: Option<String>,
    /// The input without secrets: env var values are never kept, long text is cut.
    #[serde(default)]
    pub input: Value,
    pub outcome: AuditOutcome,
    /// Whether a request reached Tactical (false for refusals: permission, tenancy, inactive).
    #[serde(default)]
    pub tactical_called: bool,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// What came back, summarised (output size, never the output itself).
    #[serde(default)]
    pub result: Option<Value>,
    pub started_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

/// The second write: how the action ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFinish {
    pub outcome: AuditOutcome,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub result: Option<Value>,
    pub finished_at: String,
    pub duration_ms: u64,
}

impl AuditRecord {
    pub fn apply(&mut self, f: &AuditFinish) {
        self.outcome = f.outcome;
        self.error_code = f.error_code.clone();
        self.error_message = f.error_message.clone();
        self.result = f.result.clone();
        self.finished_at = Some(f.finished_at.clone());
        self.duration_ms = Some(f.duration_ms);
    }
}

/// A page of audit records, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Pass as `before` to read the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

/// `20261129T154342.127Z-1a2b3c4d`: sortable by time to the millisecond, unique by the suffix.
/// What `GET /audit` asks for. Every filter is optional; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub limit: u32,
    /// `next_before` of the previous page.
    pub before: Option<String>,
    /// Records started at or after this time (read as a key range, not a filter).
    pub since: Option<time::OffsetDateTime>,
    pub action: Option<String>,
    pub asset_id: Option<String>,
    pub agent_id: Option<String>,
    pub actor_user_id: Option<String>,
    pub outcome: Option<AuditOutcome>,
}

/// The smallest audit id of records started at or after `t` (ids sort by start time).
pub fn audit_id_floor(t: time::OffsetDateTime) -> String {
    let id = audit_id_at(t);
    id.split_once('-').map(|(at, _)| at.to_owned()).unwrap_or(id)
}

pub fn new_audit_id() -> String {
    audit_id_at(super::time::now())
}

fn audit_id_at(now: time::OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z-{:08x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond(),
        rand::random::<u32>()
    )
}

/// Audit ids accepted from callers (the `before` cursor): our own format's characters only.
pub fn is_audit_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// What replaces a value that looks like a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Parts of a name (`--db-password=`, `API_TOKEN=`, `-ClientSecret`) that mark its value secret.
const SECRET_WORDS: [&str; 11] = [
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
];
/// Whole flag names whose value is secret (`-p x`, `--key x`, `Authorization: ...`).
const SECRET_FLAGS: [&str; 6] = ["p", "pass", "key", "auth", "authorization", "credential"];

fn lower_contains_secret_word(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| n.contains(w))
}

/// `-Password`, `--token`, `-p`, `Authorization:`: a flag whose next argument is a secret.
fn is_secret_flag(tok: &str) -> bool {
    let tok = tok.trim_start_matches(['"', '\'']);
    let dashed = tok.starts_with('-');
    let name = tok.trim_start_matches('-').trim_end_matches(':').to_ascii_lowercase();
    if name.is_empty() || name.contains('=') {
        return false;
    }
    if dashed {
        return SECRET_FLAGS.contains(&name.as_str()) || lower_contains_secret_word(&name);
    }
    tok.ends_with(':') && (name == "authorization" || lower_contains_secret_word(&name))
}

/// Words whose next argument is a secret whatever precedes them.
fn is_secret_prefix(tok: &str) -> bool {
    let t = tok.trim_matches(|c| c == '"' || c == '\'');
    ["bearer", "basic", "convertto-securestring"].iter().any(|w| t.eq_ignore_ascii_case(w))
}

/// Redacts `name=value` / `name:value` pairs with a secret-looking name, and the password of
/// `scheme://user:password@host`, inside one argument.
fn redact_inline(tok: &str) -> String {
    let b = tok.as_bytes();
    let mut cut: Vec<(usize, usize)> = Vec::new();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let end_of_value = |from: usize| {
        b[from..]
            .iter()
            .position(|c| matches!(c, b';' | b'&' | b',' | b'"' | b'\'' | b' '))
            .map_or(b.len(), |p| from + p)
    };
    let mut i = 0;
    while i < b.len() {
        if matches!(b[i], b'=' | b':') {
            let mut start = i;
            while start > 0 && ident(b[start - 1]) {
                start -= 1;
            }
            let url_scheme = b[i] == b':' && b.get(i + 1) == Some(&b'/');
            if !url_scheme && start < i && lower_contains_secret_word(&tok[start..i]) {
                let end = end_of_value(i + 1);
                if end > i + 1 {
                    cut.push((i + 1, end));
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    // scheme://user:password@host
    if let Some(p) = tok.find("://") {
        let rest = &tok[p + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            cut.push((p + 3 + colon + 1, p + 3 + at));
        }
    }
    if cut.is_empty() {
        return tok.to_owned();
    }
    cut.sort_unstable();
    let mut out = String::with_capacity(tok.len());
    let mut at = 0;
    for (s, e) in cut {
        if s < at {
            continue;
        }
        out.push_str(&tok[at..s]);
        out.push_str(REDACTED);
        at = e;
    }
    out.push_str(&tok[at..]);
    out
}

/// Redacts likely secrets in a list of arguments: the value after a secret flag (`-Password x`,
/// `-p x`, `--token x`, `Bearer x`, `ConvertTo-SecureString x`), secret `name=value` pairs
/// (`--token=x`, `password=x`, `Pwd=x;` in a connection string) and URL passwords.
pub fn redact_args(args: &[&str]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut secret_next = false;
    for tok in args {
        if secret_next {
            // `Authorization: Bearer x` and `-Password -String x`: the secret is one further.
            let again = is_secret_prefix(tok) || tok.eq_ignore_ascii_case("-string");
            // A closing quote of a quoted argument split on its spaces stays.
            let closing =
                if tok.starts_with(['"', '\'']) { "" } else { &tok[tok.trim_end_matches(['"', '\'']).len()..] };
            out.push(format!("{REDACTED}{closing}"));
            secret_next = again;
            continue;
        }
        secret_next = is_secret_flag(tok) || is_secret_prefix(tok);
        if tok.contains(char::is_whitespace) {
            // A quoted argument (`"Authorization: Bearer x"`, a connection string): its words.
            out.push(redact_line(tok, false));
        } else {
            out.push(redact_inline(tok));
        }
    }
    out
}

/// [`redact_args`] over a command line: arguments split on whitespace (quotes kept together),
/// the spacing between them kept.
pub fn redact_command(cmd: &str) -> String {
    redact_line(cmd, true)
}

fn redact_line(cmd: &str, group_quotes: bool) -> String {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let b = cmd.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut quote: Option<u8> = None;
        while i < b.len() {
            match (quote, b[i]) {
                (None, c) if c.is_ascii_whitespace() => break,
                (None, c @ (b'"' | b'\'')) if group_quotes => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            i += 1;
        }
        spans.push((start, i));
    }
    let toks: Vec<&str> = spans.iter().map(|&(s, e)| &cmd[s..e]).collect();
    let red = redact_args(&toks);
    let mut out = String::with_capacity(cmd.len());
    let mut at = 0;
    for ((s, e), r) in spans.iter().zip(red) {
        out.push_str(&cmd[at..*s]);
        out.push_str(&r);
        at = *e;
    }
    out.push_str(&cmd[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn likely_secrets_in_command_lines_are_redacted() {
        let cases = [
            ("net user bob -Password Hunter2 /add", "net user bob -Password [REDACTED] /add"),
            ("app.exe --token=abc123 --verbose", "app.exe --token=[REDACTED] --verbose"),
            ("mysql -u root -p s3cr3t db", "mysql -u root -p [REDACTED] db"),
            (
                "curl -H \"Authorization: Bearer eyJhbGciOi.x.y\" https://x",
                "curl -H \"Authorization: [REDACTED] [REDACTED]\" https://x",
            ),
            (
                "curl -H Authorization: Bearer eyJ.x.y https://x",
                "curl -H Authorization: [REDACTED] [REDACTED] https://x",
            ),
            ("wget --header Bearer abc.def", "wget --header Bearer [REDACTED]"),
            ("sqlcmd \"Server=db;User Id=sa;Password=P@ss;\"", "sqlcmd \"Server=db;User Id=sa;Password=[REDACTED];\""),
            ("set password=letmein", "set password=[REDACTED]"),
            ("git clone https://bob:ghp_x@github.com/o/r", "git clone https://bob:[REDACTED]@github.com/o/r"),
            (
                "$p = ConvertTo-SecureString 'Pa55' -AsPlainText -Force",
                "$p = ConvertTo-SecureString [REDACTED] -AsPlainText -Force",
            ),
            ("Set-X -ClientSecret \"a b c\" -Name n", "Set-X -ClientSecret [REDACTED] -Name n"),
            ("export GITHUB_TOKEN=ghp_abc", "export GITHUB_TOKEN=[REDACTED]"),
            ("Get-Service -Name spooler", "Get-Service -Name spooler"),
            ("ipconfig /all", "ipconfig /all"),
            ("dir C:\\Windows", "dir C:\\Windows"),
        ];
        for (cmd, want) in cases {
            assert_eq!(redact_command(cmd), want, "{cmd}");
        }
    }

    #[test]
    fn script_arguments_are_redacted_one_by_one() {
        let args = ["-Name", "x", "-Password", "Hunter2", "--api-key=k", "-p"];
        assert_eq!(redact_args(&args), ["-Name", "x", "-Password", REDACTED, "--api-key=[REDACTED]", "-p"]);
    }

    #[test]
    fn ids_sort_by_time_and_are_valid_cursors() {
        let a = audit_id_at(time::macros::datetime!(2026-11-29 15:43:42.127 UTC));
        let b = audit_id_at(time::macros::datetime!(2026-11-29 15:43:42.128 UTC));
        assert!(a.starts_with("20261129T154342.127Z-"), "{a}");
        assert!(a < b, "{a} < {b}");
        assert!(is_audit_id(&new_audit_id()));
        assert!(!is_audit_id("x#y"));
        assert!(!is_audit_id(""));
    }
}
