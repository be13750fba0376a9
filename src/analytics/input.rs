//! Offline input for `analyze --input FILE`: exported records as JSON lines or CSV.
//!
//! Columns / fields: `conversation_id`, `agent_id` (optional), `queue_id` (optional),
//! `time` (RFC 3339), `raw_score`, `polarity` (optional), `scale` (optional: `unit` or
//! `percent`; default from the command line), `media_type` (optional). A bad row is reported with its line number
//! and counted as rejected, never silently dropped.

use std::io::BufRead;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::{
    AgentId, ConversationId, Polarity, QueueId, RawSentiment, ScoreScale, SentimentRecord,
};

/// A row that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line number in the file (the header is line 1 for CSV).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
    /// Short reason code for counting.
    pub code: &'static str,
}

/// The rows of a file.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Usable records, with their line numbers.
    pub records: Vec<(usize, SentimentRecord)>,
    /// Rows that were skipped.
    pub bad: Vec<BadRow>,
}

#[derive(Debug, Deserialize)]
struct Row {
    conversation_id: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    queue_id: Option<String>,
    time: Option<String>,
    raw_score: Option<serde_json::Value>,
    #[serde(default)]
    polarity: Option<String>,
    #[serde(default)]
    scale: Option<String>,
    #[serde(default)]
    media_type: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn convert(row: Row, default_scale: ScoreScale) -> Result<SentimentRecord, (&'static str, String)> {
    let conversation_id = non_empty(row.conversation_id).ok_or((
        "missing_conversation_id",
        "conversation_id is empty".to_owned(),
    ))?;
    let time_text = non_empty(row.time).ok_or(("missing_time", "time is empty".to_owned()))?;
    let time = DateTime::parse_from_rfc3339(&time_text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            (
                "bad_time",
                format!("time {time_text:?} is not RFC 3339: {e}"),
            )
        })?;
    let value = match row.raw_score {
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .ok_or(("bad_score", "raw_score is not a number".to_owned()))?,
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s
            .trim()
            .parse::<f64>()
            .map_err(|_| ("bad_score", format!("raw_score {s:?} is not a number")))?,
        _ => return Err(("missing_score", "raw_score is missing".to_owned())),
    };
    let scale = match non_empty(row.scale) {
        Some(s) => s.parse::<ScoreScale>().map_err(|e| ("bad_scale", e))?,
        None => default_scale,
    };
    let polarity = match non_empty(row.polarity) {
        Some(p) => Some(
            p.parse::<Polarity>()
                .map_err(|e| ("bad_polarity", e.to_string()))?,
        ),
        None => None,
    };
    Ok(SentimentRecord {
        conversation_id: ConversationId(conversation_id),
        agent_id: non_empty(row.agent_id).map(AgentId),
        queue_id: non_empty(row.queue_id).map(QueueId),
        time,
        raw: RawSentiment { value, scale },
        polarity,
        media_type: non_empty(row.media_type),
    })
}

/// One row of an input file: a usable record, or why it is not.
pub type InputRow = Result<SentimentRecord, BadRow>;

/// A parsed row (or why it could not be parsed, under `unreadable`) turned into an input row.
fn finish(
    row: Result<Row, String>,
    line: usize,
    unreadable: &'static str,
    scale: ScoreScale,
) -> InputRow {
    match row {
        Ok(row) => convert(row, scale).map_err(|(code, reason)| BadRow { line, reason, code }),
        Err(reason) => Err(BadRow {
            line,
            reason,
            code: unreadable,
        }),
    }
}

/// Streams JSON lines (one object per line; blank lines ignored) to `each`, with the line
/// number. Memory does not grow with the file.
///
/// # Errors
/// Only I/O errors; bad rows are passed to `each`.
pub fn stream_json_lines(
    reader: impl BufRead,
    default_scale: ScoreScale,
    mut each: impl FnMut(usize, InputRow),
) -> std::io::Result<()> {
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        let number = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str::<Row>(&line).map_err(|e| format!("not a JSON object: {e}"));
        each(number, finish(row, number, "bad_json", default_scale));
    }
    Ok(())
}

/// Streams CSV with a header row to `each` (line numbers count the header as line 1).
///
/// # Errors
/// Only I/O errors and a missing header; bad rows are passed to `each`.
pub fn stream_csv(
    reader: impl std::io::Read,
    default_scale: ScoreScale,
    mut each: impl FnMut(usize, InputRow),
) -> std::io::Result<()> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    rdr.headers()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    for (i, result) in rdr.deserialize::<Row>().enumerate() {
        let number = i + 2;
        let row = result.map_err(|e| format!("unreadable row: {e}"));
        each(number, finish(row, number, "bad_row", default_scale));
    }
    Ok(())
}

/// Streams a file: CSV for `.csv`, JSON lines otherwise.
///
/// # Errors
/// When the file cannot be opened or read.
pub fn stream_file(
    path: &std::path::Path,
    default_scale: ScoreScale,
    each: impl FnMut(usize, InputRow),
) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        stream_csv(file, default_scale, each)
    } else {
        stream_json_lines(std::io::BufReader::new(file), default_scale, each)
    }
}

fn collect(
    run: impl FnOnce(&mut dyn FnMut(usize, InputRow)) -> std::io::Result<()>,
) -> std::io::Result<Parsed> {
    let mut parsed = Parsed::default();
    run(&mut |line, row| match row {
        Ok(r) => parsed.records.push((line, r)),
        Err(bad) => parsed.bad.push(bad),
    })?;
    Ok(parsed)
}

/// Reads JSON lines into memory (small inputs and tests; [`stream_json_lines`] otherwise).
///
/// # Errors
/// Only I/O errors; bad rows are returned in [`Parsed::bad`].
pub fn read_json_lines(reader: impl BufRead, default_scale: ScoreScale) -> std::io::Result<Parsed> {
    collect(|each| stream_json_lines(reader, default_scale, each))
}

/// Reads CSV into memory (small inputs and tests; [`stream_csv`] otherwise).
///
/// # Errors
/// Only I/O errors and a missing header.
pub fn read_csv(reader: impl std::io::Read, default_scale: ScoreScale) -> std::io::Result<Parsed> {
    collect(|each| stream_csv(reader, default_scale, each))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rows_are_reported_by_line_and_good_ones_kept() {
        let text = "\
{\"conversation_id\":\"c1\",\"agent_id\":\"a\",\"time\":\"2026-05-01T10:00:00Z\",\"raw_score\":0.5}
not json
{\"conversation_id\":\"c2\",\"time\":\"2026-05-01T10:00:00Z\",\"raw_score\":0.5,\"polarity\":\"meh\"}

{\"conversation_id\":\"c3\",\"time\":\"yesterday\",\"raw_score\":0.5}
{\"conversation_id\":\"c4\",\"time\":\"2026-05-01T10:00:00Z\",\"raw_score\":42,\"scale\":\"percent\",\"polarity\":\"Negative\"}
";
        let p = read_json_lines(text.as_bytes(), ScoreScale::Unit).unwrap();
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records[1].0, 6);
        assert_eq!(p.records[1].1.raw.scale, ScoreScale::Percent);
        assert_eq!(p.records[1].1.polarity, Some(Polarity::Negative));
        let lines: Vec<usize> = p.bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![2, 3, 5]);
        assert_eq!(p.bad[1].code, "bad_polarity");
    }

    #[test]
    fn csv_rows_are_numbered_after_the_header() {
        let text = "conversation_id,agent_id,queue_id,time,raw_score,polarity\n\
                    c1,a1,q1,2026-05-01T10:00:00Z,-0.2,\n\
                    c2,a1,q1,2026-05-01T11:00:00Z,,\n\
                    c3,,q1,2026-05-01T12:00:00Z,0.9,positive\n";
        let p = read_csv(text.as_bytes(), ScoreScale::Unit).unwrap();
        assert_eq!(p.records.len(), 2);
        assert_eq!(
            p.bad,
            vec![BadRow {
                line: 3,
                reason: "raw_score is missing".into(),
                code: "missing_score"
            }]
        );
        assert!(p.records[1].1.agent_id.is_none());
    }
}
