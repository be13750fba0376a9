//! Reading a peer's response body with a ceiling: a body larger than asked for is cut (and
//! the connection dropped), never buffered whole. Shared by the Genesys and coaching clients.

use bytes::Bytes;

// The largest successful Genesys answer read is per endpoint (`Endpoint::max_answer_bytes`).
/// Largest error body read (an error is a short JSON object; the rest is dropped).
pub const MAX_ERROR_BYTES: usize = 64 << 10;

/// The first `max` bytes of `response`'s body, and whether there was more.
///
/// # Errors
/// The transport error that ended the body early.
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<(Bytes, bool), reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = max - out.len();
        if chunk.len() > room {
            out.extend_from_slice(&chunk[..room]);
            return Ok((Bytes::from(out), true));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((Bytes::from(out), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(axum::http::Response::new(body))
    }

    #[tokio::test]
    async fn a_body_over_the_ceiling_is_cut_there_and_said_to_be() {
        let (read, more) = read_capped(response(vec![b'x'; 1 << 20]), MAX_ERROR_BYTES)
            .await
            .unwrap();
        assert_eq!((read.len(), more), (MAX_ERROR_BYTES, true));
        let (read, more) = read_capped(response(b"{\"error\":1}".to_vec()), MAX_ERROR_BYTES)
            .await
            .unwrap();
        assert_eq!((&read[..], more), (&b"{\"error\":1}"[..], false));
    }
}
