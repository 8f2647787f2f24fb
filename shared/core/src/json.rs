//! JSON request bodies: parsing that names the bad field.

use crate::error::ApiError;
use serde::de::DeserializeOwned;

/// Parses a JSON body; a type or missing-field error names the field (`instance_url`,
/// `schedules.alert_polling.interval_minutes`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { bytes };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::validation(
                "body",
                format!("the body is not valid JSON: {}", msg.split(" at line ").next().unwrap_or(&msg)),
            );
        }
        // serde reports a missing field on the parent path; name the field itself.
        let field = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
            .map(|f| if path == "." || path.is_empty() { f.to_owned() } else { format!("{path}.{f}") })
            .unwrap_or_else(|| if path == "." { "body".into() } else { path });
        let clean = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        ApiError::validation(field, clean)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        interval_minutes: u32,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        instance_url: String,
        schedule: Option<Inner>,
    }

    #[test]
    fn names_the_missing_field() {
        let e = parse_json::<Outer>(br#"{}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("instance_url"));
    }

    #[test]
    fn names_a_nested_wrong_type() {
        let e = parse_json::<Outer>(br#"{"instance_url":"x","schedule":{"interval_minutes":"ten"}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("schedule.interval_minutes"));
        assert_eq!(e.code, ErrorCode::ValidationFailed);
    }

    #[test]
    fn malformed_json_is_a_body_error() {
        let e = parse_json::<Outer>(b"{not json").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body"));
    }
}
