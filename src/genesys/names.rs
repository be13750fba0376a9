//! Display names of users and queues by id, in bulk: `GET /api/v2/users?id=…` and
//! `GET /api/v2/routing/queues?id=…`, at most 100 ids a request (docs/genesys-api.md §7).

use reqwest::Method;

use super::models::NamedEntityListing;
use super::{Endpoint, GenesysClient, GenesysError};

/// Path of the users collection.
pub const USERS_PATH: &str = "/api/v2/users";
/// Path of the queues collection.
pub const QUEUES_PATH: &str = "/api/v2/routing/queues";
/// Most ids asked for in one request (the page size too, so one page answers it).
pub const IDS_PER_REQUEST: usize = 100;

/// Which collection to look names up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// Users (agents).
    User,
    /// Routing queues.
    Queue,
}

impl NameKind {
    fn endpoint(self) -> (Endpoint, &'static str) {
        match self {
            NameKind::User => (Endpoint::Users, USERS_PATH),
            NameKind::Queue => (Endpoint::Queues, QUEUES_PATH),
        }
    }
}

impl GenesysClient {
    /// `(id, name)` of every id Genesys knows, asking 100 at a time (users in any state:
    /// active, inactive or deleted). Ids it does not return (other divisions) are simply
    /// absent.
    ///
    /// # Errors
    /// The first [`GenesysError`] (a 403 names the permission to add).
    pub async fn names(
        &self,
        kind: NameKind,
        ids: &[String],
    ) -> Result<Vec<(String, String)>, GenesysError> {
        let (endpoint, path) = kind.endpoint();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            let mut query: Vec<(&str, String)> =
                chunk.iter().map(|id| ("id", id.clone())).collect();
            query.push(("pageSize", IDS_PER_REQUEST.to_string()));
            query.push(("pageNumber", "1".into()));
            if kind == NameKind::User {
                // Users are listed `active` only unless asked otherwise: an agent who has
                // left since would keep showing as an id in every report of their work.
                query.push(("state", "any".into()));
            }
            let listing: NamedEntityListing = self
                .send_json(endpoint, Method::GET, path, &query, None::<&()>)
                .await?;
            out.extend(
                listing
                    .entities
                    .into_iter()
                    // A name is shown in terminals, log lines and spreadsheets: control
                    // characters (a terminal escape, a newline forging a log line) are
                    // written as escapes, and a name is at most 200 characters.
                    .filter_map(|e| Some((e.id, crate::domain::printable(&e.name?, 200)))),
            );
        }
        Ok(out)
    }
}
