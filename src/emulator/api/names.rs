//! `GET /api/v2/users?id=…` and `GET /api/v2/routing/queues?id=…`: the org's agents and
//! queues by id, as `UserEntityListing` / `QueueEntityListing` (docs/genesys-api.md §7).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::super::EmulatorState;
use super::bad_request;
use crate::genesys::models::{NamedEntity, NamedEntityListing};

/// A query string's `id` values (they may repeat: `id=a&id=b`), `pageSize` and user
/// `state` (default `active`, as Genesys's).
struct NameQuery {
    ids: Vec<String>,
    page_size: usize,
    state: String,
}

fn name_query(query: Option<&str>) -> Result<NameQuery, String> {
    let mut ids = Vec::new();
    let mut page_size = 25;
    let mut state = "active".to_owned();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        match k {
            "id" => ids.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_owned)),
            "pageSize" => {
                page_size = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=500).contains(n))
                    .ok_or_else(|| format!("pageSize {v:?} must be between 1 and 500."))?
            }
            "state" => match v.as_str() {
                "active" | "inactive" | "deleted" | "any" => state = v,
                other => {
                    return Err(format!(
                        "state {other:?} must be one of active, inactive, deleted, any."
                    ));
                }
            },
            _ => {}
        }
    }
    Ok(NameQuery {
        ids,
        page_size,
        state,
    })
}

fn listing(
    state: &EmulatorState,
    entities: Vec<NamedEntity>,
    page_size: usize,
) -> NamedEntityListing {
    let total = entities.len();
    let _ = state;
    NamedEntityListing {
        entities: entities.into_iter().take(page_size).collect(),
        page_size: Some(page_size as u32),
        page_number: Some(1),
        total: Some(total as u64),
        page_count: Some(total.div_ceil(page_size).max(1) as u32),
    }
}

/// `GET /api/v2/users`: the agents named by `id` (all agents without it).
pub async fn users(State(state): State<EmulatorState>, RawQuery(q): RawQuery) -> Response {
    state.record(
        "GET",
        "/api/v2/users",
        q.as_deref().unwrap_or("").as_bytes(),
    );
    let NameQuery {
        ids,
        page_size,
        state: wanted,
    } = match name_query(q.as_deref()) {
        Ok(v) => v,
        Err(m) => return bad_request(&m),
    };
    let in_state = |departed: bool| match wanted.as_str() {
        "any" => true,
        "inactive" => departed,
        "active" => !departed,
        _ => false,
    };
    let entities = state
        .org
        .agents
        .iter()
        .filter(|a| (ids.is_empty() || ids.contains(&a.id)) && in_state(a.departed))
        .map(|a| NamedEntity {
            id: a.id.clone(),
            name: Some(a.name.clone()),
            self_uri: Some(format!("/api/v2/users/{}", a.id)),
        })
        .collect();
    Json(listing(&state, entities, page_size)).into_response()
}

/// `GET /api/v2/routing/queues`: the queues named by `id` (all queues without it).
pub async fn queues(State(state): State<EmulatorState>, RawQuery(q): RawQuery) -> Response {
    state.record(
        "GET",
        "/api/v2/routing/queues",
        q.as_deref().unwrap_or("").as_bytes(),
    );
    let NameQuery { ids, page_size, .. } = match name_query(q.as_deref()) {
        Ok(v) => v,
        Err(m) => return bad_request(&m),
    };
    let entities = state
        .org
        .queues
        .iter()
        .filter(|q| ids.is_empty() || ids.contains(&q.id))
        .map(|q| NamedEntity {
            id: q.id.clone(),
            name: Some(q.name.clone()),
            self_uri: Some(format!("/api/v2/routing/queues/{}", q.id)),
        })
        .collect();
    Json(listing(&state, entities, page_size)).into_response()
}
