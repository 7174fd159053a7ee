//! Binary encoding of stored values: bincode 2.0.1 (serde mode) behind a
//! format-version byte. The only module that knows bincode; the version byte lets
//! a later release read old values and migrate them.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The format byte written in front of every value encoded today...
pub const FORMAT_V1: u8 = 1;
/// ...except leads, whose layout changed twice: format 2 added lead-to-lead
/// merges and splits, format 3 the email status's provenance. Leads are written
/// as format 3; the store's legacy module reads formats 1 and 2.
pub const FORMAT_V2: u8 = 2;
pub const FORMAT_V3: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("stored value is empty (no format byte)")]
    Empty,
    #[error("stored value has format {0}, which this build does not read; upgrade leadsprint")]
    UnknownFormat(u8),
    #[error("cannot encode value: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("stored value is corrupt: {0}")]
    Decode(#[from] bincode::error::DecodeError),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes `value` as `[FORMAT_V1, bincode bytes...]`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    encode_as(FORMAT_V1, value)
}

/// Encodes `value` behind the format byte `format` (a layout of its own).
pub fn encode_as<T: Serialize>(format: u8, value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    out.push(format);
    bincode::serde::encode_into_std_write(value, &mut out, config())?;
    Ok(out)
}

/// Decodes a value written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_as(FORMAT_V1, bytes)
}

/// Decodes a value written by [`encode_as`] with `format`.
pub fn decode_as<T: DeserializeOwned>(format: u8, bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&found, body)) if found == format => Ok(bincode::serde::decode_from_slice(body, config())?.0),
        Some((&other, _)) => Err(CodecError::UnknownFormat(other)),
    }
}

/// Decodes a value written with `format` by a layout that lacked `T`'s last field,
/// an `Option`: fields are encoded one after another with nothing between, and a
/// `None` is the single byte 0, so the old bytes plus that byte are the new layout.
pub fn decode_without_last_option<T: DeserializeOwned>(format: u8, bytes: &[u8]) -> Result<T, CodecError> {
    let mut padded = Vec::with_capacity(bytes.len() + 1);
    padded.extend_from_slice(bytes);
    padded.push(0);
    decode_as(format, &padded)
}

/// The format byte of a stored value.
pub fn format_of(bytes: &[u8]) -> Result<u8, CodecError> {
    bytes.first().copied().ok_or(CodecError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Sample {
        name: Option<String>,
        tags: Vec<String>,
        n: u64,
    }

    #[test]
    fn round_trips_with_version_byte() {
        let v = Sample { name: Some("Zoë 🚀".into()), tags: vec!["a".into()], n: 7 };
        let bytes = encode(&v).unwrap();
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(decode::<Sample>(&bytes).unwrap(), v);
    }

    #[test]
    fn rejects_unknown_format_and_empty_and_garbage() {
        assert!(matches!(decode::<Sample>(&[]), Err(CodecError::Empty)));
        assert!(matches!(decode::<Sample>(&[9, 1, 2]), Err(CodecError::UnknownFormat(9))));
        assert!(matches!(decode::<Sample>(&[FORMAT_V1, 1]), Err(CodecError::Decode(_))));
    }
}
