//! Which notification topics the org offers, and to which transports: the topics Process
//! Automation triggers can use (`GET /api/v2/processautomation/triggers/topics`, cursor
//! paged) and the notification topics with their transports
//! (`GET /api/v2/notifications/availabletopics?expand=transports`). Only `doctor` asks.

use reqwest::Method;

use super::models::{AvailableTopic, AvailableTopicEntityListing, TopicCursorEntityListing};
use super::{Endpoint, GenesysClient, GenesysError};

/// Path of the triggers' topic list.
pub const TRIGGER_TOPICS_PATH: &str = "/api/v2/processautomation/triggers/topics";
/// Path of the notification topic list.
pub const AVAILABLE_TOPICS_PATH: &str = "/api/v2/notifications/availabletopics";
/// Most cursor pages read (200 topics each): a bound, not an expected size.
const MAX_TOPIC_PAGES: usize = 50;

/// The `after` cursor of a `nextUri`, if it has one.
fn after_cursor(next_uri: &str) -> Option<String> {
    let query = next_uri.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "after" && !v.is_empty()).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

impl GenesysClient {
    /// Every topic name Process Automation triggers may use, following the cursor.
    ///
    /// # Errors
    /// The first [`GenesysError`] (a 403 names the permission).
    pub async fn trigger_topics(&self) -> Result<Vec<String>, GenesysError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_TOPIC_PAGES {
            let mut query = vec![("pageSize", "200".to_owned())];
            if let Some(a) = &after {
                query.push(("after", a.clone()));
            }
            let page: TopicCursorEntityListing = self
                .send_json(
                    Endpoint::TriggerTopics,
                    Method::GET,
                    TRIGGER_TOPICS_PATH,
                    &query,
                    None::<&()>,
                )
                .await?;
            out.extend(page.entities);
            match page.next_uri.as_deref().and_then(after_cursor) {
                Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The notification topics with the transports that carry each.
    ///
    /// # Errors
    /// Any [`GenesysError`].
    pub async fn available_topics(&self) -> Result<Vec<AvailableTopic>, GenesysError> {
        let listing: AvailableTopicEntityListing = self
            .send_json(
                Endpoint::AvailableTopics,
                Method::GET,
                AVAILABLE_TOPICS_PATH,
                &[("expand", "transports".to_owned())],
                None::<&()>,
            )
            .await?;
        Ok(listing.entities)
    }
}

#[cfg(test)]
mod tests {
    use super::after_cursor;

    #[test]
    fn the_after_cursor_is_read_from_next_uri() {
        assert_eq!(
            after_cursor("/api/v2/processautomation/triggers/topics?after=abc%3D&pageSize=200")
                .as_deref(),
            Some("abc=")
        );
        assert_eq!(after_cursor("/api/v2/x?pageSize=200"), None);
        assert_eq!(after_cursor("/api/v2/x"), None);
    }
}
