//! [`MemoryQueue`] (records what was sent, per queue, as SQS bodies) and [`MemoryEvents`]
//! (records what was published).

use crate::messages::{QueueKind, SyncMessage};
use crate::ports::{BusEvent, EventPublisher, MessageQueue, PortError};
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// SQS's limit on one message, and on the sum of one batch's messages.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Reads back what a [`MessageQueue`] sent: the contract suite's view of a queue.
#[async_trait]
pub trait QueueProbe: Send + Sync {
    /// Takes up to `expected` messages off `queue` (waiting for them where delivery takes time).
    async fn receive(&self, queue: QueueKind, expected: usize) -> Vec<SyncMessage>;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Default)]
struct QueueState {
    /// Bodies as SQS would carry them, oldest first.
    sent: Vec<(QueueKind, String)>,
    /// Messages still accepted before sends fail (`None`: no limit).
    budget: Option<usize>,
}

#[derive(Debug, Default)]
pub struct MemoryQueue {
    state: Mutex<QueueState>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `n` more messages, then fails every send (a send that fails half-way: the batches
    /// of ten before the limit stay sent). `None` lifts the limit.
    pub fn fail_after(&self, n: Option<usize>) {
        lock(&self.state).budget = n;
    }

    /// Takes every message sent to `queue` so far, oldest first.
    pub fn drain(&self, queue: QueueKind) -> Vec<SyncMessage> {
        let mut st = lock(&self.state);
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut st.sent).into_iter().partition(|(q, _)| *q == queue);
        st.sent = kept;
        taken.into_iter().filter_map(|(_, body)| serde_json::from_str(&body).ok()).collect()
    }

    /// Messages sent to `queue` and not drained yet.
    pub fn pending(&self, queue: QueueKind) -> usize {
        lock(&self.state).sent.iter().filter(|(q, _)| *q == queue).count()
    }
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn send(&self, queue: QueueKind, messages: &[SyncMessage]) -> Result<(), PortError> {
        for chunk in messages.chunks(10) {
            let mut bodies = Vec::with_capacity(chunk.len());
            for m in chunk {
                bodies.push(serde_json::to_string(m).map_err(|e| PortError::Other(e.to_string()))?);
            }
            let total: usize = bodies.iter().map(String::len).sum();
            if total > MAX_MESSAGE_BYTES {
                return Err(PortError::Other(format!("a batch of {total} bytes is over SQS's {MAX_MESSAGE_BYTES}")));
            }
            let mut st = lock(&self.state);
            if let Some(left) = st.budget {
                if left < chunk.len() {
                    return Err(PortError::Other(format!(
                        "{} of {} messages were not accepted",
                        chunk.len(),
                        chunk.len()
                    )));
                }
                st.budget = Some(left - chunk.len());
            }
            st.sent.extend(bodies.into_iter().map(|b| (queue, b)));
        }
        Ok(())
    }
}

#[async_trait]
impl QueueProbe for MemoryQueue {
    async fn receive(&self, queue: QueueKind, expected: usize) -> Vec<SyncMessage> {
        let mut all = self.drain(queue);
        let rest = all.split_off(expected.min(all.len()));
        // What was not asked for stays on the queue.
        if !rest.is_empty() {
            let mut st = lock(&self.state);
            for m in rest {
                if let Ok(b) = serde_json::to_string(&m) {
                    st.sent.push((queue, b));
                }
            }
        }
        all
    }
}

#[derive(Debug, Default)]
pub struct MemoryEvents {
    published: Mutex<Vec<BusEvent>>,
    failing: AtomicBool,
}

impl MemoryEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// While set, `publish` fails and records nothing (callers must then record nothing either).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Everything published so far, oldest first.
    pub fn published(&self) -> Vec<BusEvent> {
        lock(&self.published).clone()
    }

    /// Takes everything published so far.
    pub fn take(&self) -> Vec<BusEvent> {
        std::mem::take(&mut *lock(&self.published))
    }
}

#[async_trait]
impl EventPublisher for MemoryEvents {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), PortError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(PortError::Other(format!("{} events were not accepted by EventBridge", events.len())));
        }
        lock(&self.published).extend_from_slice(events);
        Ok(())
    }
}
