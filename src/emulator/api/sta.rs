//! `GET /api/v2/speechandtextanalytics/conversations/{id}` (docs/genesys-api.md §4.1).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::EmulatorState;
use super::super::gate::genesys_error;
use crate::domain::ScoreScale;
use crate::genesys::models::{ConversationMetrics, EmpathyScore, EntityRef, ParticipantMetrics};

/// The score as the API reports it: four decimals on the configured scale.
pub fn reported(value: f32, scale: ScoreScale) -> f64 {
    let v = f64::from(value) * scale.max_abs();
    (v * 10_000.0).round() / 10_000.0
}

fn trend_class(trend_percent: f64) -> &'static str {
    // The trend-class bands of docs/genesys-api.md §4.2.
    if trend_percent > 55.0 {
        "Improving"
    } else if trend_percent > 20.0 {
        "SlightlyImproving"
    } else if trend_percent >= -20.0 {
        "NoChange"
    } else if trend_percent >= -55.0 {
        "SlightlyDeclining"
    } else {
        "Declining"
    }
}

/// `GET /api/v2/speechandtextanalytics/conversations/{id}`.
pub async fn sta_conversation(
    State(state): State<EmulatorState>,
    Path(id): Path<String>,
) -> Response {
    let not_found = || {
        let mut r = genesys_error(
            StatusCode::NOT_FOUND,
            "resource.not.found",
            &format!("Unable to find speech and text analytics data for conversation {id}"),
        );
        // messageParams.id like the real answer (docs/genesys-api.md §4.1).
        let body = json!({
            "message": format!("Unable to find speech and text analytics data for conversation {id}"),
            "code": "resource.not.found", "status": 404,
            "messageParams": {"id": id},
            "contextId": r.headers().get("inin-correlation-id").and_then(|v| v.to_str().ok()).unwrap_or(""),
            "details": [], "errors": []});
        *r.body_mut() = axum::body::Body::from(body.to_string());
        r.headers_mut().remove(header::CONTENT_LENGTH);
        r
    };
    let Some(c) = state.org.find(&id) else {
        return not_found();
    };
    if !c.analysed || state.is_ongoing(c) {
        return not_found();
    }
    *state
        .sta_answers
        .lock()
        .expect("sta answers lock")
        .entry(id.clone())
        .or_default() += 1;
    let scale = state.config.org.score_scale;
    let agent = &state.org.agents[c.agent as usize];
    let agent_share = 40.0 + (c.id % 200) as f64 / 10.0;
    let customer_share = 85.0 - agent_share;
    Json(ConversationMetrics {
        conversation: Some(EntityRef {
            id: c.id_string(),
            self_uri: Some(format!("/api/v2/conversations/{}", c.id_string())),
        }),
        sentiment_score: Some(reported(c.score, scale)),
        sentiment_trend: Some(reported(c.trend, scale)),
        sentiment_trend_class: Some(trend_class(f64::from(c.trend) * 100.0).into()),
        empathy_scores: vec![EmpathyScore {
            score: Some(((f64::from(c.score) * 0.5 + 0.5) * 10_000.0).round() / 10_000.0),
            user_id: Some(agent.id.clone()),
        }],
        participant_metrics: Some(ParticipantMetrics {
            agent_duration_percentage: Some(agent_share),
            customer_duration_percentage: Some(customer_share),
            silence_duration_percentage: Some(10.0),
            ivr_duration_percentage: Some(0.0),
            acd_duration_percentage: Some(3.0),
            overtalk_duration_percentage: Some(2.0),
            other_duration_percentage: Some(0.0),
            overtalk_count: Some((c.id % 7) as i64),
        }),
    })
    .into_response()
}
