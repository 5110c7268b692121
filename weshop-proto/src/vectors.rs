//! The golden vectors format (`shared/protocol/vectors.json`): frames produced by Google's
//! protobuf runtime that any implementation of the protocols must reproduce.
//!
//! Used by this crate's tests, the CLI tests and the fuzz seeds; public so that a peer written
//! against these crates can check itself the same way.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One golden frame: `frame_hex` decodes to `json`, and `json` encodes to `frame_hex`.
#[derive(Debug, Clone)]
pub struct Case {
    /// Case name.
    pub name: String,
    /// Schema name, e.g. `world_amazon`.
    pub schema: String,
    /// Message name, e.g. `ACommands`.
    pub message: String,
    /// The message in the JSON mapping.
    pub json: Value,
    /// One whole frame (prefix and body) as hex.
    pub frame_hex: String,
    /// What the case is about.
    pub note: String,
}

impl Case {
    /// A case whose bytes are valid but not canonical (packed repeated scalars): decode only.
    pub fn decode_only(&self) -> bool {
        self.name.contains("packed") || self.note.contains("packed form")
    }
}

/// A byte stream carrying several frames, to be fed in every split.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Stream name.
    pub name: String,
    /// Schema name.
    pub schema: String,
    /// Message name of every frame.
    pub message: String,
    /// The frames, in order, in the JSON mapping.
    pub frames_json: Vec<Value>,
    /// The whole stream as hex.
    pub stream_hex: String,
}

/// A stream that must be rejected, and how.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// Entry name.
    pub name: String,
    /// Schema name.
    pub schema: String,
    /// Message name.
    pub message: String,
    /// The stream as hex.
    pub stream_hex: String,
    /// The expected outcome, in words.
    pub expect: String,
}

/// The whole vectors file.
#[derive(Debug, Clone)]
pub struct Vectors {
    /// Single frames.
    pub cases: Vec<Case>,
    /// Multi-frame streams.
    pub streams: Vec<Stream>,
    /// Streams to reject.
    pub malformed: Vec<Malformed>,
}

/// Why the vectors could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum VectorsError {
    /// No `vectors.json` in any of the places looked in.
    #[error("vectors.json not found; looked in: {} (set WESHOP_PROTOCOL_DIR to the folder holding it)",
        .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound(Vec<PathBuf>),
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The file is not in the expected format.
    #[error("{0} is not a valid vectors file: {1}")]
    Format(PathBuf, String),
}

/// Finds the protocol folder: `$WESHOP_PROTOCOL_DIR`, else `shared/protocol` in `start` or its
/// nearest ancestor that has one (a WeShop checkout sits beside `shared/`).
pub fn locate(start: &Path) -> Result<PathBuf, VectorsError> {
    let mut tried = Vec::new();
    if let Some(dir) = std::env::var_os("WESHOP_PROTOCOL_DIR") {
        let dir = PathBuf::from(dir);
        if dir.join("vectors.json").is_file() {
            return Ok(dir);
        }
        tried.push(dir);
    }
    for ancestor in start.ancestors() {
        let dir = ancestor.join("shared").join("protocol");
        if dir.join("vectors.json").is_file() {
            return Ok(dir);
        }
        tried.push(dir);
    }
    Err(VectorsError::NotFound(tried))
}

/// Loads `vectors.json` from the protocol folder found by [`locate`].
pub fn load(start: &Path) -> Result<Vectors, VectorsError> {
    load_file(&locate(start)?.join("vectors.json"))
}

/// Loads a vectors file.
pub fn load_file(path: &Path) -> Result<Vectors, VectorsError> {
    let text = std::fs::read_to_string(path).map_err(|e| VectorsError::Io(path.into(), e))?;
    parse(&text).map_err(|e| VectorsError::Format(path.into(), e))
}

/// Where this repository keeps its copy of the golden vectors (in the source tree, so only
/// for tests and tools run from a checkout): a clone tests on its own, and a test checks the
/// copy against the normative `shared/protocol/vectors.json` when that is beside the clone.
pub fn vendored_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors.json")
}

/// Parses the text of a vectors file.
pub fn parse(text: &str) -> Result<Vectors, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let list = |key: &str| -> Result<Vec<Value>, String> {
        match root.get(key) {
            Some(Value::Array(items)) => Ok(items.clone()),
            _ => Err(format!("no array {key:?}")),
        }
    };
    let text_of = |item: &Value, key: &str| -> Result<String, String> {
        item.get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("an entry lacks the string {key:?}: {item}"))
    };
    let field = |item: &Value, key: &str| -> Result<Value, String> {
        item.get(key)
            .cloned()
            .ok_or_else(|| format!("an entry lacks {key:?}: {item}"))
    };
    Ok(Vectors {
        cases: list("cases")?
            .iter()
            .map(|c| {
                Ok(Case {
                    name: text_of(c, "name")?,
                    schema: text_of(c, "schema")?,
                    message: text_of(c, "message")?,
                    json: field(c, "json")?,
                    frame_hex: text_of(c, "frame_hex")?,
                    note: text_of(c, "note").unwrap_or_default(),
                })
            })
            .collect::<Result<_, String>>()?,
        streams: list("streams")?
            .iter()
            .map(|s| {
                Ok(Stream {
                    name: text_of(s, "name")?,
                    schema: text_of(s, "schema")?,
                    message: text_of(s, "message")?,
                    frames_json: match field(s, "frames_json")? {
                        Value::Array(frames) => frames,
                        other => return Err(format!("frames_json is not an array: {other}")),
                    },
                    stream_hex: text_of(s, "stream_hex")?,
                })
            })
            .collect::<Result<_, String>>()?,
        malformed: list("malformed")?
            .iter()
            .map(|m| {
                Ok(Malformed {
                    name: text_of(m, "name")?,
                    schema: text_of(m, "schema")?,
                    message: text_of(m, "message")?,
                    stream_hex: text_of(m, "stream_hex")?,
                    expect: text_of(m, "expect")?,
                })
            })
            .collect::<Result<_, String>>()?,
    })
}

/// Decodes hex text (no whitespace).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in {text:?}"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("not hex at {i} in {text:?}"))
        })
        .collect()
}

/// Encodes bytes as lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_format_and_reports_gaps() {
        let v = parse(r#"{"cases":[{"name":"a","schema":"world_amazon","message":"ACommands","json":{},"frame_hex":"00"}],"streams":[],"malformed":[]}"#).unwrap();
        assert_eq!(v.cases[0].frame_hex, "00");
        assert!(parse(r#"{"cases":[{"name":"a"}],"streams":[],"malformed":[]}"#).is_err());
        assert!(parse(r#"{"cases":[]}"#).unwrap_err().contains("streams"));
    }

    #[test]
    fn hex_both_ways() {
        assert_eq!(parse_hex("00ff10").unwrap(), [0, 255, 16]);
        assert!(parse_hex("0").is_err() && parse_hex("zz").is_err());
        assert_eq!(to_hex(&[0, 255, 16]), "00ff10");
    }

    #[test]
    fn missing_file_names_where_it_looked() {
        let dir = std::env::temp_dir().join("weshop-no-vectors-here");
        let err = load(&dir).unwrap_err().to_string();
        assert!(
            err.contains("weshop-no-vectors-here/shared/protocol"),
            "{err}"
        );
    }
}
