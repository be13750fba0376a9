//! Evaluating details and aggregate filters (`and`/`or` over dimension predicates) against
//! the org's conversations (docs/genesys-api.md §2.2).

use super::super::EmulatorState;
use super::super::org::Conversation;
use crate::genesys::models::QueryFilter;

pub(super) fn dimension_value(
    state: &EmulatorState,
    c: &Conversation,
    dim: &str,
) -> Result<Option<String>, String> {
    let org = &state.org;
    Ok(match dim {
        "conversationId" => Some(c.id_string()),
        "conversationStart" => Some(String::new()),
        "conversationEnd" => (!state.is_ongoing(c)).then(String::new),
        "queueId" => Some(org.queues[usize::from(c.queue)].id.clone()),
        "userId" => Some(org.agents[c.agent as usize].id.clone()),
        "mediaType" => Some(c.media_type().to_owned()),
        "requestedLanguageId" => None,
        "originatingDirection" | "direction" => Some("inbound".into()),
        "purpose" => Some("agent".into()),
        other => {
            return Err(format!(
                "dimension {other:?} is not supported by the emulator"
            ));
        }
    })
}

fn filter_matches(
    state: &EmulatorState,
    c: &Conversation,
    f: &QueryFilter,
) -> Result<bool, String> {
    let mut results = Vec::new();
    for p in &f.predicates {
        let Some(dim) = p.dimension.as_deref() else {
            return Err("predicate without dimension".into());
        };
        let value = dimension_value(state, c, dim)?;
        let ok = match p.operator.as_deref().unwrap_or("matches") {
            "exists" => value.is_some(),
            "notExists" => value.is_none(),
            "matches" => value.as_deref() == p.value.as_deref(),
            other => {
                return Err(format!(
                    "operator {other:?} is not one of matches, exists, notExists"
                ));
            }
        };
        results.push(ok);
    }
    for clause in &f.clauses {
        results.push(filter_matches(state, c, clause)?);
    }
    Ok(match f.kind.as_str() {
        "and" => results.iter().all(|r| *r),
        "or" => results.iter().any(|r| *r),
        other => return Err(format!("filter type {other:?} is not and/or")),
    })
}

pub(super) fn all_match(
    state: &EmulatorState,
    c: &Conversation,
    filters: &[QueryFilter],
) -> Result<bool, String> {
    for f in filters {
        if !filter_matches(state, c, f)? {
            return Ok(false);
        }
    }
    Ok(true)
}
