//! The ports the use cases run on. The edge (`lambda-glue`) builds them once per cold start from
//! the AWS and HTTP adapters; tests build them from the in-memory adapters.

use crate::config::Config;
use crate::ports::{EventPublisher, MessageQueue, SecretStore, Store};
use crate::tactical::TacticalConnector;
use std::sync::Arc;

/// Everything a use case may reach. Cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct Deps {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretStore>,
    pub queue: Arc<dyn MessageQueue>,
    /// The stack's EventBridge bus (status transitions, alert changes).
    pub events: Arc<dyn EventPublisher>,
    /// Tactical clients per tenant, over one connection pool.
    pub tactical: Arc<dyn TacticalConnector>,
}
