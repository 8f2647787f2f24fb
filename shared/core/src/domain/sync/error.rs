//! How a work item fails: Tactical, the store, a fan-out half sent, or a cap on the work.

use crate::error::{ApiError, ErrorCode};
use crate::tactical::TacticalError;

#[derive(Debug)]
pub enum TacticalErrorOrApi {
    Tactical(TacticalError),
    Api(ApiError),
    /// Queueing a fan-out's work items failed (some may have been sent): retried; on the last
    /// attempt the run is failed, since the children it claimed will never all arrive.
    FanOut(String),
    /// A cap on the work a Tactical answer may cause (`limits`): never retried.
    Limit(String),
}

impl From<TacticalError> for TacticalErrorOrApi {
    fn from(e: TacticalError) -> Self {
        Self::Tactical(e)
    }
}
impl From<ApiError> for TacticalErrorOrApi {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}
impl From<crate::ports::PortError> for TacticalErrorOrApi {
    fn from(e: crate::ports::PortError) -> Self {
        // Transient (`ErrorCode::Internal`); a throttle reads "the data store is busy", never as
        // a Tactical failure.
        Self::Api(e.into())
    }
}

impl TacticalErrorOrApi {
    pub(crate) fn transient(&self) -> bool {
        match self {
            Self::Tactical(e) => e.is_transient(),
            Self::Api(e) => e.code == ErrorCode::Internal,
            Self::FanOut(_) => true,
            Self::Limit(_) => false,
        }
    }
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Tactical(e) => e.to_string(),
            Self::Api(e) => e.message.clone(),
            Self::FanOut(e) => format!("queueing work items failed: {e}"),
            Self::Limit(e) => e.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortError;

    #[test]
    fn a_throttled_store_is_transient_and_not_blamed_on_tactical() {
        let e = TacticalErrorOrApi::from(PortError::Throttled);
        assert!(e.transient(), "SQS retries it");
        assert!(!e.message().contains("Tactical"), "{}", e.message());
        assert!(e.message().contains("data store"), "{}", e.message());
        assert!(TacticalErrorOrApi::from(PortError::Other("x".into())).transient());
    }
}
