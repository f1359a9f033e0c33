//! Where a request's time went, reported one way by every component: a `timings_ms` member
//! in the JSON and a `Server-Timing` header (which browsers' network panels show).

use crate::envelope::Reply;
use http::HeaderValue;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::time::Instant;

/// Milliseconds per stage, in the order the stages first ran.
#[derive(Debug, Default, Clone)]
pub struct StageTimes {
    stages: Vec<(&'static str, f64)>,
}

impl StageTimes {
    /// Adds the time since `since` to `stage` (a stage may run several times).
    pub fn add(&mut self, stage: &'static str, since: Instant) {
        self.add_ms(stage, since.elapsed().as_secs_f64() * 1000.0);
    }

    /// Adds `ms` milliseconds to `stage`.
    pub fn add_ms(&mut self, stage: &'static str, ms: f64) {
        match self.stages.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, total)) => *total += ms,
            None => self.stages.push((stage, ms)),
        }
    }

    /// The `Server-Timing` value: `fetch;dur=12.5, mix;dur=130.0`.
    pub fn header(&self) -> String {
        self.stages
            .iter()
            .map(|(stage, ms)| format!("{stage};dur={ms:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Puts the `Server-Timing` header on a reply whose body already carries `timings_ms`.
    pub fn on(&self, mut reply: Reply) -> Reply {
        if let Ok(value) = HeaderValue::from_str(&self.header()) {
            reply.headers_mut().insert("server-timing", value);
        }
        reply
    }
}

/// `{"stage": ms, …}` with whole milliseconds, as `timings_ms`.
impl Serialize for StageTimes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.stages.len()))?;
        for (stage, ms) in &self.stages {
            map.serialize_entry(stage, &(ms.round() as u64))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_and_the_field_report_the_same_stages() {
        let mut t = StageTimes::default();
        t.add_ms("fetch", 12.25);
        t.add_ms("mix", 130.0);
        t.add_ms("fetch", 2.0);
        assert_eq!(t.header(), "fetch;dur=14.2, mix;dur=130.0");
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({"fetch": 14, "mix": 130})
        );
        let reply = t.on(crate::success(&serde_json::json!({"timings_ms": t})));
        assert_eq!(
            reply.headers()["server-timing"],
            "fetch;dur=14.2, mix;dur=130.0"
        );
    }
}
