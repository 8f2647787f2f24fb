//! Accounts: API keys, users, knox tokens (lifetimes on the simulated clock) and the login
//! throttle state.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use rand::Rng;
use rand::rngs::StdRng;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::{ApiKey, KnoxTimes, ThrottleConfig, User};

pub(crate) struct Token {
    pub username: String,
    pub expiry: OffsetDateTime,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum ThrottleScope {
    CheckCreds,
    Login,
}

pub(crate) struct AuthState {
    pub api_keys: Vec<ApiKey>,
    pub users: Vec<User>,
    pub tokens: HashMap<String, Token>,
    pub throttle: ThrottleConfig,
    /// (scope, ip, is_day) → request times on the simulated clock, newest first (DRF history
    /// order; DRF's throttles read the server's clock, so advancing it frees the buckets).
    pub history: HashMap<(ThrottleScope, IpAddr, bool), VecDeque<OffsetDateTime>>,
    pub rng: StdRng,
    pub knox: KnoxTimes,
}

impl SimState {
    // Credentials

    pub fn add_api_key(&self, key: ApiKey) {
        let mut a = self.auth();
        a.api_keys.retain(|k| k.key != key.key);
        a.api_keys.push(key);
    }

    pub fn remove_api_key(&self, key: &str) {
        self.auth().api_keys.retain(|k| k.key != key);
    }

    pub fn add_user(&self, user: User) {
        let mut a = self.auth();
        a.users.retain(|u| u.username != user.username);
        a.users.push(user);
    }

    /// Number of live knox tokens.
    pub fn active_tokens(&self) -> usize {
        let t = self.now();
        let a = self.auth();
        a.tokens.values().filter(|k| k.expiry > t).count()
    }

    /// Current expiry of a knox token (`None` if unknown), on the simulated clock. A use pushes it
    /// to now + 5 h when that moves it by more than 10 minutes; checkcreds tokens of non-TOTP
    /// users start at now + 180 s.
    pub fn token_expiry(&self, token: &str) -> Option<OffsetDateTime> {
        self.auth().tokens.get(token).map(|t| t.expiry)
    }

    /// Expire every knox token (the next use answers 401 "Invalid token.").
    pub fn expire_tokens(&self) {
        self.auth().tokens.clear();
    }

    /// Knox token lifetimes (defaults: Tactical's).
    pub fn set_knox_times(&self, knox: KnoxTimes) {
        self.auth().knox = knox;
    }

    pub(crate) fn knox_times(&self) -> KnoxTimes {
        self.auth().knox
    }

    pub fn set_throttle(&self, cfg: ThrottleConfig) {
        let mut a = self.auth();
        a.throttle = cfg;
        a.history.clear();
    }

    pub(crate) fn new_token(&self, username: &str, ttl: Duration) -> (String, OffsetDateTime) {
        let expiry = self.now() + ttl;
        let mut a = self.auth();
        let token: String = (0..32).map(|_| format!("{:02x}", a.rng.random::<u8>())).collect();
        a.tokens.insert(token.clone(), Token { username: username.to_string(), expiry });
        (token, expiry)
    }

    // --------------------------------------------------------------------------------------
}
