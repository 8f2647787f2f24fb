//! Every Tactical response decoder the client uses (serde into the wire types): any body must
//! decode or fail with an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::tactical::types::{AgentDetail, Alert, BetaAgent, BetaPage, CheckCredsBody, Client, KnoxLoginBody};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Vec<Client>>(data);
    let _ = serde_json::from_slice::<Client>(data);
    if let Ok(page) = serde_json::from_slice::<BetaPage<BetaAgent>>(data) {
        // What device sync does with a page: count pages without overflow or division by zero.
        let _ = page.count.div_ceil(1000);
    }
    let _ = serde_json::from_slice::<AgentDetail>(data);
    let _ = serde_json::from_slice::<Vec<Alert>>(data);
    let _ = serde_json::from_slice::<Alert>(data);
    let _ = serde_json::from_slice::<CheckCredsBody>(data);
    let _ = serde_json::from_slice::<KnoxLoginBody>(data);
});
