//! docs/genesys-setup.md, path A, as an admin would build it: the data action's body (its
//! request template and headers) rendered for the documented sample trigger event the way
//! Genesys's Velocity does, with and without `sentimentTrendScore`, sent with the documented
//! credentials. The daemon must accept both.

use serde_json::{Map, Value};

use crate::helpers::TestApp;

const GUIDE: &str = include_str!("../../docs/genesys-setup.md");

/// The first fenced block tagged `tag` after `after` in the guide.
fn block(tag: &str, after: &str) -> String {
    let start = GUIDE
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} is in the guide"));
    let open = format!("```{tag}\n");
    let from = GUIDE[start..].find(&open).expect("the block is there") + start + open.len();
    let to = GUIDE[from..].find("\n```").expect("the block ends") + from;
    GUIDE[from..to].to_owned()
}

/// A `$input.NAME` value as Velocity prints it, or `None` when the input is absent.
fn value(inputs: &Map<String, Value>, name: &str) -> Option<String> {
    inputs.get(name).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Renders the subset of Velocity the guide's templates use: `#if("$!{input.X}" != "")` …
/// `#end` lines, `$esc.jsonString($input.X)`, `$!{input.X}`, `${input.X}` / `$input.X`, and
/// `${credentials.X}`. An absent reference in formal or plain notation prints itself, as in
/// Velocity (that is what breaks an unguarded template).
fn render(template: &str, inputs: &Map<String, Value>, credentials: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in template.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(cond) = trimmed.strip_prefix("#if(") {
            let name = cond
                .split("input.")
                .nth(1)
                .and_then(|r| r.split('}').next())
                .expect("a condition on an input");
            assert!(
                cond.contains("!= \"\")"),
                "only the documented form: {line}"
            );
            skipping = value(inputs, name).is_none();
            continue;
        }
        if trimmed == "#end" {
            skipping = false;
            continue;
        }
        if !skipping {
            out.push_str(&substitute(line, inputs, credentials));
        }
    }
    out
}

fn substitute(line: &str, inputs: &Map<String, Value>, credentials: &Map<String, Value>) -> String {
    let mut s = line.to_owned();
    // $esc.jsonString($input.X): the value escaped for a JSON string.
    while let Some(at) = s.find("$esc.jsonString($input.") {
        let rest = &s[at + "$esc.jsonString($input.".len()..];
        let end = rest.find(')').expect("closed");
        let name = &rest[..end];
        let escaped = serde_json::to_string(&value(inputs, name).unwrap_or_default()).unwrap();
        s = format!(
            "{}{}{}",
            &s[..at],
            &escaped[1..escaped.len() - 1],
            &rest[end + 1..]
        );
    }
    for (prefix, source, quiet) in [
        ("$!{input.", inputs, true),
        ("${input.", inputs, false),
        ("${credentials.", credentials, false),
    ] {
        while let Some(at) = s.find(prefix) {
            let rest = &s[at + prefix.len()..];
            let end = rest.find('}').expect("closed");
            let name = &rest[..end];
            let shown = match value(source, name) {
                Some(v) => v,
                None if quiet => String::new(),
                None => format!("{prefix}{name}}}").replace('$', "\u{0}"),
            };
            s = format!("{}{}{}", &s[..at], shown, &rest[end + 1..]);
        }
    }
    // Plain notation: $input.X up to the first character that cannot be in a name.
    while let Some(at) = s.find("$input.") {
        let rest = &s[at + "$input.".len()..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        let name = &rest[..end];
        let shown = value(inputs, name).unwrap_or_else(|| format!("\u{0}input.{name}"));
        s = format!("{}{}{}", &s[..at], shown, &rest[end..]);
    }
    s.replace('\u{0}', "$")
}

#[test]
fn the_renderer_prints_an_absent_reference_as_velocity_does() {
    let inputs = Map::new();
    let rendered = render(
        "\"x\": ${input.sentimentTrendScore}\n",
        &inputs,
        &Map::new(),
    );
    assert_eq!(rendered, "\"x\": ${input.sentimentTrendScore}\n");
    assert!(serde_json::from_str::<Value>(&format!("{{{rendered}}}")).is_err());
}

#[tokio::test]
async fn the_documented_data_action_is_accepted_with_and_without_a_trend_score() {
    let action: Value = serde_json::from_str(&block(
        "json",
        "POST /api/v2/integrations/actions` with this body",
    ))
    .expect("the data action body is JSON");
    let request = &action["config"]["request"];
    let template = request["requestTemplate"].as_str().unwrap();
    assert_eq!(
        template.trim_end(),
        block("velocity", "The request body template").trim_end(),
        "the UI template is the API body's requestTemplate"
    );
    let event: Value = serde_json::from_str(&block("json", "#### Sample trigger event"))
        .expect("the sample trigger event is JSON");
    let token = "a-long-random-webhook-token-0001";
    let credentials: Map<String, Value> = [("token".to_owned(), Value::from(token))]
        .into_iter()
        .collect();
    let t = TestApp::started(|s| {
        s.webhook.allow_unauthenticated = false;
        s.webhook.bearer_token = genesys_sentiment::config::Secret::new(token);
        s.webhook.basic_username = "genesys".into();
        s.webhook.basic_password =
            genesys_sentiment::config::Secret::new("a-long-basic-password-0002");
    })
    .await;
    let mut short = event.as_object().unwrap().clone();
    short.remove("sentimentTrendScore");
    short.insert(
        "conversationId".into(),
        Value::from("5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
    );
    for (label, inputs) in [
        ("with a trend score", event.as_object().unwrap().clone()),
        ("without one (a short call)", short),
    ] {
        let body = render(template, &inputs, &credentials);
        let parsed: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{label}: the rendered body is JSON ({e}):\n{body}"));
        assert_eq!(
            parsed["eventBody"]["conversationId"], inputs["conversationId"],
            "{label}"
        );
        // User Defined credential: the headers the action declares, rendered.
        let mut post = t.client.post(t.url("/webhooks/genesys")).body(body.clone());
        for (name, v) in request["headers"].as_object().unwrap() {
            post = post.header(
                name.as_str(),
                render(v.as_str().unwrap(), &inputs, &credentials),
            );
        }
        let r = post.send().await.unwrap();
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or_default();
        assert_eq!(status, 202, "{label}, User Defined credential: {answer}");
        // Basic Auth credential: no Authorization line in the action; the integration adds it.
        let r = t
            .client
            .post(t.url("/webhooks/genesys"))
            .header("Content-Type", "application/json")
            .basic_auth("genesys", Some("a-long-basic-password-0002"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "{label}, Basic Auth: the same event again is a duplicate"
        );
    }
    t.stop().await;
}
