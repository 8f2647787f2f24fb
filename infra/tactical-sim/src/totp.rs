//! RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s), as pyotp does it.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The 6-digit code for `secret` (raw key bytes) at `unix_time`.
pub fn totp_code(secret: &[u8], unix_time: u64) -> String {
    hotp(secret, unix_time / 30)
}

fn hotp(secret: &[u8], counter: u64) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = (u32::from(h[off]) & 0x7f) << 24
        | u32::from(h[off + 1]) << 16
        | u32::from(h[off + 2]) << 8
        | u32::from(h[off + 3]);
    format!("{:06}", bin % 1_000_000)
}

/// `pyotp.TOTP(key).verify(code, valid_window=window)`.
pub fn verify(secret: &[u8], code: &str, unix_time: u64, window: i64) -> bool {
    let code = code.trim();
    let counter = (unix_time / 30) as i64;
    (-window..=window).any(|d| {
        let c = counter + d;
        c >= 0 && hotp(secret, c as u64) == code
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B (SHA1, secret "12345678901234567890"), last 6 digits.
        let s = b"12345678901234567890";
        assert_eq!(totp_code(s, 59), "287082");
        assert_eq!(totp_code(s, 1111111109), "081804");
        assert_eq!(totp_code(s, 1234567890), "005924");
        assert_eq!(totp_code(s, 20000000000), "353130");
        assert!(verify(s, "287082", 59 + 300, 10));
        assert!(!verify(s, "287082", 59 + 400, 10));
    }
}
