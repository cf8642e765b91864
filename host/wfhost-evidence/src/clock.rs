//! Event time: [`Timestamp`] (UTC, millisecond precision, RFC 3339 text) and the [`Clock`] a
//! log takes it from.
//!
//! Records carry `occurred_at` as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the one text form of an instant, so
//! equal instants hash equally. A draft may carry its own time (an event reported by a plugin,
//! or a replay); otherwise the log asks its clock. Injecting the clock is what lets a replay
//! reproduce a log byte for byte.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Last representable instant: 9999-12-31T23:59:59.999Z (RFC 3339 years have four digits).
const MAX_MILLIS: i64 = 253_402_300_799_999;

/// An instant in UTC with millisecond precision, between 1970-01-01 and 9999-12-31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A text or number that is not a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not of the form `YYYY-MM-DDTHH:MM:SS.mmmZ`, or not a real date/time.
    #[error("{0:?} is not an RFC 3339 UTC time with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)")]
    Format(String),
    /// Before 1970 or after 9999.
    #[error("{0} ms since 1970-01-01 is outside the years 1970..=9999")]
    Range(i64),
}

impl Timestamp {
    /// The instant `ms` milliseconds after 1970-01-01T00:00:00.000Z.
    pub fn from_unix_millis(ms: i64) -> Result<Timestamp, TimestampError> {
        if (0..=MAX_MILLIS).contains(&ms) {
            Ok(Timestamp(ms))
        } else {
            Err(TimestampError::Range(ms))
        }
    }

    /// Milliseconds since 1970-01-01T00:00:00.000Z.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// The system clock's current time, truncated to the millisecond.
    pub fn now() -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(MAX_MILLIS))
            .unwrap_or(0);
        Timestamp(ms.clamp(0, MAX_MILLIS))
    }

    /// Parse the one accepted text form, `YYYY-MM-DDTHH:MM:SS.mmmZ`; anything else (other
    /// offsets, other precisions, lowercase `t`/`z`) is refused so each instant has one text.
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        let bad = || TimestampError::Format(text.to_string());
        let b = text.as_bytes();
        if b.len() != 24
            || !SHAPE.iter().zip(b).all(|(s, c)| {
                if *s == b'#' {
                    c.is_ascii_digit()
                } else {
                    s == c
                }
            })
        {
            return Err(bad());
        }
        let num = |from: usize, to: usize| {
            b[from..to]
                .iter()
                .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
        };
        let month = Month::try_from(num(5, 7) as u8).map_err(|_| bad())?;
        let date = Date::from_calendar_date(num(0, 4) as i32, month, num(8, 10) as u8)
            .map_err(|_| bad())?;
        let time = Time::from_hms_milli(
            num(11, 13) as u8,
            num(14, 16) as u8,
            num(17, 19) as u8,
            num(20, 23) as u16,
        )
        .map_err(|_| bad())?;
        let dt = PrimitiveDateTime::new(date, time).assume_utc();
        let ms = i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).map_err(|_| bad())?;
        Timestamp::from_unix_millis(ms)
    }
}

/// The text form, `#` standing for a digit.
const SHAPE: &[u8; 24] = b"####-##-##T##:##:##.###Z";

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // In range by construction, so the conversion succeeds.
        let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .map_err(|_| fmt::Error)?;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Where a log takes `occurred_at` from when a draft carries none.
///
/// Any `Fn() -> Timestamp + Send + Sync` is a clock, so tests and replays can pass a closure.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

impl<F: Fn() -> Timestamp + Send + Sync> Clock for F {
    fn now(&self) -> Timestamp {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_the_one_text_form() {
        let ts = Timestamp::from_unix_millis(1_700_000_000_123).expect("in range");
        assert_eq!(ts.to_string(), "2023-11-14T22:13:20.123Z");
        assert_eq!(Timestamp::parse("2023-11-14T22:13:20.123Z"), Ok(ts));
        assert_eq!(
            Timestamp::from_unix_millis(0).expect("epoch").to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(MAX_MILLIS)
                .expect("max")
                .to_string(),
            "9999-12-31T23:59:59.999Z"
        );
        assert!(Timestamp::from_unix_millis(-1).is_err());
        assert!(Timestamp::from_unix_millis(MAX_MILLIS + 1).is_err());
    }

    #[test]
    fn refuses_every_other_spelling() {
        for bad in [
            "2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20.12Z",
            "2023-11-14T22:13:20.1234Z",
            "2023-11-14T22:13:20.123+00:00",
            "2023-11-14t22:13:20.123Z",
            "2023-11-14T22:13:20.123z",
            "2023-11-14 22:13:20.123Z",
            "2023-02-30T22:13:20.123Z",
            "2023-11-14T24:00:00.000Z",
            "2023-11-14T23:60:00.000Z",
            "2023-11-14T23:59:60.000Z",
            "2023-13-14T23:59:59.000Z",
            "2023-00-14T23:59:59.000Z",
            "2023-11-00T23:59:59.000Z",
            "2023-11-1４T23:59:59.00Z",
            "1969-12-31T23:59:59.999Z",
            "+2023-11-14T22:13:20.123Z",
            "",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn text_round_trips_across_the_range() {
        let mut ms = 0i64;
        while ms <= MAX_MILLIS {
            let ts = Timestamp::from_unix_millis(ms).expect("in range");
            assert_eq!(Timestamp::parse(&ts.to_string()), Ok(ts), "{ts}");
            ms += 999_999_937; // about 11.6 days less a few ms: walks dates and times
        }
        let leap = Timestamp::parse("2024-02-29T12:34:56.789Z").expect("leap day");
        assert_eq!(leap.to_string(), "2024-02-29T12:34:56.789Z");
        assert!(Timestamp::parse("2023-02-29T12:34:56.789Z").is_err());
    }

    #[test]
    fn closures_are_clocks() {
        let fixed = Timestamp::from_unix_millis(42).expect("in range");
        let clock = move || fixed;
        assert_eq!(Clock::now(&clock), fixed);
        let now = SystemClock.now().unix_millis();
        assert!(now > 1_600_000_000_000, "system clock reads {now}");
    }
}
