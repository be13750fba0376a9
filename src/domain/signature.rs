//! Message signatures: Standard Webhooks (`webhook-id` / `webhook-timestamp` /
//! `webhook-signature`) and GitHub-style `X-Hub-Signature-256`.
//!
//! Used by the webhook intake (verify), the coaching forwarder (sign) and the emulator's
//! coaching sink (verify). Pure computation, so it sits in `domain`.
//! Every comparison is constant-time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::Secret;

type HmacSha256 = Hmac<Sha256>;

/// A Standard Webhooks signing key (`whsec_<base64>`; the prefix is optional, as in the
/// reference libraries).
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// Why a signing key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing configured.
    #[error("the secret is empty")]
    Empty,
    /// The part after `whsec_` is not base64.
    #[error("not a Standard Webhooks secret: expected \"whsec_\" followed by base64")]
    NotBase64,
    /// Too short to be safe.
    #[error("the decoded key is {0} bytes; use at least 16 (24 to 64 recommended)")]
    TooShort(usize),
}

/// Why a signature did not verify. Deliberately vague in what it tells a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required header is absent.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a number of seconds.
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    /// The timestamp is too far from now (replay protection).
    #[error("webhook-timestamp is outside the accepted tolerance")]
    StaleTimestamp,
    /// No signature matched any key.
    #[error("no signature matches")]
    Mismatch,
}

impl SigningKey {
    /// Parses a configured secret.
    ///
    /// # Errors
    /// [`KeyError`] when the secret is empty, not base64 or shorter than 16 bytes.
    pub fn parse(secret: &Secret) -> Result<SigningKey, KeyError> {
        let text = secret.expose().ok_or(KeyError::Empty)?;
        SigningKey::from_text(text)
    }

    /// Parses `whsec_<base64>` (or bare base64).
    ///
    /// # Errors
    /// See [`SigningKey::parse`].
    pub fn from_text(text: &str) -> Result<SigningKey, KeyError> {
        let b64 = text.trim().strip_prefix("whsec_").unwrap_or(text.trim());
        if b64.is_empty() {
            return Err(KeyError::Empty);
        }
        let key = STANDARD.decode(b64).map_err(|_| KeyError::NotBase64)?;
        if key.len() < 16 {
            return Err(KeyError::TooShort(key.len()));
        }
        Ok(SigningKey(key))
    }

    /// The `v1,<base64>` signature of `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any size");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

/// The three Standard Webhooks headers of one request.
#[derive(Debug, Clone, Copy)]
pub struct StandardHeaders<'a> {
    /// `webhook-id`
    pub id: Option<&'a str>,
    /// `webhook-timestamp`
    pub timestamp: Option<&'a str>,
    /// `webhook-signature` (space-separated `v1,<base64>` list)
    pub signature: Option<&'a str>,
}

/// A `webhook-timestamp` value as the verifier reads it (Unix seconds).
pub fn standard_timestamp(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// The signatures a `webhook-signature` value offers: each `v1,<base64>`, decoded.
pub fn v1_signatures(value: &str) -> impl Iterator<Item = Vec<u8>> + '_ {
    value
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
}

/// The digest an `X-Hub-Signature-256` value carries after `sha256=`: base64 of 32 bytes
/// (the form this daemon documents) or, for senders that follow GitHub, hex.
pub fn hub_digest(header: &str) -> Option<Vec<u8>> {
    let given = header.trim().strip_prefix("sha256=")?;
    STANDARD
        .decode(given)
        .ok()
        .filter(|d| d.len() == 32)
        .or_else(|| hex::decode(given).ok())
}

/// Verifies a Standard Webhooks request against any of `keys` (rotation), checking the
/// timestamp is within `tolerance_secs` of `now`.
///
/// # Errors
/// [`SignatureError`] naming the first problem found.
pub fn verify_standard(
    keys: &[SigningKey],
    headers: StandardHeaders<'_>,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let id = headers
        .id
        .ok_or(SignatureError::MissingHeader("webhook-id"))?;
    let ts_text = headers
        .timestamp
        .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
    let sigs = headers
        .signature
        .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
    let timestamp = standard_timestamp(ts_text).ok_or(SignatureError::BadTimestamp)?;
    let candidates: Vec<Vec<u8>> = v1_signatures(sigs).collect();
    let mut matched = subtle::Choice::from(0u8);
    for key in keys {
        let expected = key.mac(id, timestamp, body);
        for candidate in &candidates {
            matched |= expected.as_slice().ct_eq(candidate.as_slice());
        }
    }
    if !bool::from(matched) {
        return Err(SignatureError::Mismatch);
    }
    // Checked only once the signature holds: a caller without the key learns nothing from
    // the answer. Any i64 a peer sends is handled (no overflow).
    let skew = now.checked_sub(timestamp).map(i64::unsigned_abs);
    if skew.is_none_or(|s| s > tolerance_secs.unsigned_abs()) {
        return Err(SignatureError::StaleTimestamp);
    }
    Ok(())
}

/// `sha256=<base64 HMAC-SHA256(secret, body)>`, the `X-Hub-Signature-256` value.
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(body);
    format!("sha256={}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Verifies an `X-Hub-Signature-256` header in constant time. Accepts the base64 form this
/// daemon documents and, for senders that follow GitHub, lowercase hex.
///
/// # Errors
/// [`SignatureError::MissingHeader`] or [`SignatureError::Mismatch`].
pub fn verify_hub(secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::MissingHeader("x-hub-signature-256"))?;
    let decoded = hub_digest(header).ok_or(SignatureError::Mismatch)?;
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(body);
    let expected = mac.finalize().into_bytes().to_vec();
    if bool::from(expected.as_slice().ct_eq(decoded.as_slice())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Constant-time equality of two byte strings (for tokens and passwords).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers(sig: &str) -> StandardHeaders<'_> {
        StandardHeaders {
            id: Some(ID),
            timestamp: Some("1614265330"),
            signature: Some(sig),
        }
    }

    #[test]
    fn the_specification_example_signs_and_verifies() {
        let key = SigningKey::from_text(SECRET).unwrap();
        assert_eq!(key.sign(ID, TS, BODY), EXPECTED);
        verify_standard(&[key], headers(EXPECTED), BODY, TS, 300).unwrap();
    }

    #[test]
    fn one_flipped_byte_anywhere_fails() {
        let key = SigningKey::from_text(SECRET).unwrap();
        for i in 0..BODY.len() {
            let mut body = BODY.to_vec();
            body[i] ^= 0x01;
            assert_eq!(
                verify_standard(
                    std::slice::from_ref(&key),
                    headers(EXPECTED),
                    &body,
                    TS,
                    300
                ),
                Err(SignatureError::Mismatch),
                "flipping body byte {i} must fail"
            );
        }
        let other_id = StandardHeaders {
            id: Some("msg_p5jXN8AQM9LWM0D4loKWxJel"),
            ..headers(EXPECTED)
        };
        assert!(verify_standard(std::slice::from_ref(&key), other_id, BODY, TS, 300).is_err());
        let other_ts = StandardHeaders {
            timestamp: Some("1614265331"),
            ..headers(EXPECTED)
        };
        assert!(verify_standard(std::slice::from_ref(&key), other_ts, BODY, TS, 300).is_err());
        let mut sig = EXPECTED.as_bytes().to_vec();
        sig[5] ^= 0x01;
        let sig = String::from_utf8(sig).unwrap();
        assert!(verify_standard(&[key], headers(&sig), BODY, TS, 300).is_err());
    }

    #[test]
    fn rotation_accepts_either_key_and_either_signature() {
        let old = SigningKey::from_text(SECRET).unwrap();
        let new = SigningKey::from_text("whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u").unwrap();
        let signed_by_new = new.sign(ID, TS, BODY);
        verify_standard(
            &[old.clone(), new.clone()],
            headers(&signed_by_new),
            BODY,
            TS,
            300,
        )
        .unwrap();
        verify_standard(
            &[old.clone(), new.clone()],
            headers(EXPECTED),
            BODY,
            TS,
            300,
        )
        .unwrap();
        let both = format!("{signed_by_new} {EXPECTED}");
        verify_standard(std::slice::from_ref(&old), headers(&both), BODY, TS, 300).unwrap();
        assert!(verify_standard(&[new], headers(EXPECTED), BODY, TS, 300).is_err());
    }

    #[test]
    fn stale_timestamps_are_refused() {
        let key = SigningKey::from_text(SECRET).unwrap();
        assert_eq!(
            verify_standard(&[key], headers(EXPECTED), BODY, TS + 301, 300),
            Err(SignatureError::StaleTimestamp)
        );
    }

    #[test]
    fn hub_signature_round_trips_and_detects_changes() {
        let sig = hub_signature("s3cret", b"{\"a\":1}");
        verify_hub("s3cret", Some(&sig), b"{\"a\":1}").unwrap();
        assert!(verify_hub("s3cret", Some(&sig), b"{\"a\":2}").is_err());
        assert!(verify_hub("other", Some(&sig), b"{\"a\":1}").is_err());
        assert!(verify_hub("s3cret", None, b"{\"a\":1}").is_err());
    }

    #[test]
    fn keys_must_be_base64_and_long_enough() {
        assert_eq!(
            SigningKey::from_text("whsec_!!!").unwrap_err(),
            KeyError::NotBase64
        );
        assert_eq!(
            SigningKey::from_text("whsec_c2hvcnQ=").unwrap_err(),
            KeyError::TooShort(5)
        );
    }
}
