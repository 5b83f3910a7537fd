//! serde helpers for integer fields of request documents: JSON Schema's `integer` is any number with a zero
//! fractional part, so `7.0` is read as `7` (as are `7`), while `7.5`, negatives and numbers past the type's
//! range are refused. Use with `#[serde(deserialize_with = "...")]` (and `default` on an `Option`).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, Error, Visitor};

/// The largest integer every `f64` spells exactly (2^53).
const EXACT: f64 = 9_007_199_254_740_992.0;

struct Whole<T>(PhantomData<T>);

impl<T: TryFrom<u64>> Visitor<'_> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a non-negative integer")
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        let v = u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative")))?;
        self.visit_u64(v)
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        if v.fract() != 0.0 || !(0.0..=EXACT).contains(&v) {
            return Err(E::custom(format!("{v} is not a non-negative integer")));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.visit_u64(v as u64)
    }
}

/// An integer, written `7` or `7.0`.
///
/// # Errors
/// When the value is not a whole number in the type's range.
pub fn integer<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(Whole(PhantomData))
}

/// An optional integer (`null` is none), written `7` or `7.0`.
///
/// # Errors
/// When the value is neither `null` nor a whole number in the type's range.
pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<Option<T>, D::Error> {
    struct Maybe<T>(PhantomData<T>);
    impl<'de, T: TryFrom<u64>> Visitor<'de> for Maybe<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a non-negative integer or null")
        }
        fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
            integer(d).map(Some)
        }
    }
    d.deserialize_option(Maybe(PhantomData))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Doc {
        #[serde(deserialize_with = "super::integer")]
        weight: u32,
        #[serde(default, deserialize_with = "super::optional")]
        version: Option<u64>,
    }

    fn read(text: &str) -> Result<Doc, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn whole_numbers_in_either_spelling() {
        assert_eq!(read(r#"{"weight": 7, "version": 3}"#).unwrap(), Doc { weight: 7, version: Some(3) });
        assert_eq!(read(r#"{"weight": 7.0, "version": 3.0}"#).unwrap(), Doc { weight: 7, version: Some(3) });
        assert_eq!(read(r#"{"weight": 1e3}"#).unwrap(), Doc { weight: 1000, version: None });
        assert_eq!(read(r#"{"weight": 0, "version": null}"#).unwrap(), Doc { weight: 0, version: None });
        for bad in [r#"{"weight": 7.5}"#, r#"{"weight": -1}"#, r#"{"weight": 5000000000}"#, r#"{"weight": "7"}"#] {
            assert!(read(bad).is_err(), "{bad}");
        }
        assert!(read(r#"{"weight": 1, "version": -2.0}"#).is_err());
        assert!(read(r#"{"weight": 1, "version": 1e300}"#).is_err());
    }
}
