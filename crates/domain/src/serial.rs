//! File name → sample serial and group, as the original system derives them.
//!
//! `S-3602-10X_Image001_ch00.tif` → group `S-3602`, image number `001`, serial `S-3602-01`
//! (the group plus the last two digits of the image number). Names that do not match are
//! group `UNKNOWN`, serial `UNKNOWN-00`. The pattern is configurable: any regular expression
//! with the named captures `group` and `image`.

use regex::Regex;
use serde::Serialize;
use std::collections::BTreeMap;

/// The original's naming scheme: `<group>-<magnification>X_Image<number>…`, case-insensitive,
/// tolerant of a space between `Image` and the number.
pub const DEFAULT_PATTERN: &str = r"(?i)^(?P<group>[A-Z]+-\d+)-\d+X_Image\s*(?P<image>\d+)";

pub const UNKNOWN_GROUP: &str = "UNKNOWN";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SerialInfo {
    pub serial: String,
    pub group: String,
    /// The full image number as written in the name (`"123"` for `Image123`), when known.
    pub image_number: Option<String>,
}

impl SerialInfo {
    pub fn is_unknown(&self) -> bool {
        self.group == UNKNOWN_GROUP
    }
}

#[derive(Debug, Clone)]
pub struct SerialParser {
    re: Regex,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid serial pattern: {0} (it must be a regular expression with the named groups `group` and `image`)")]
pub struct PatternError(String);

impl Default for SerialParser {
    fn default() -> Self {
        Self::new(DEFAULT_PATTERN).expect("default pattern is valid")
    }
}

impl SerialParser {
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        let re = Regex::new(pattern).map_err(|e| PatternError(e.to_string()))?;
        let names: Vec<_> = re.capture_names().flatten().collect();
        if !names.contains(&"group") || !names.contains(&"image") {
            return Err(PatternError(format!("{pattern:?} lacks a named group")));
        }
        Ok(Self { re })
    }

    /// Parses a file name (not a path: only the last component is looked at).
    pub fn parse(&self, filename: &str) -> SerialInfo {
        let name = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
        match self.re.captures(name) {
            Some(c) => {
                let group = c["group"].to_uppercase();
                let image = c["image"].to_string();
                // The last two characters (not bytes: `\d` also matches non-ASCII digits).
                let skip = image.chars().count().saturating_sub(2);
                let last_two: String = image.chars().skip(skip).collect();
                SerialInfo {
                    serial: format!("{group}-{last_two:0>2}"),
                    group,
                    image_number: Some(image),
                }
            }
            None => SerialInfo {
                serial: format!("{UNKNOWN_GROUP}-00"),
                group: UNKNOWN_GROUP.to_string(),
                image_number: None,
            },
        }
    }
}

/// Serials claimed by more than one distinct file name (e.g. `Image001` and `Image101` both map
/// to `…-01`). Unknown names are never reported: they all share `UNKNOWN-00` by design.
pub fn collisions<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a SerialInfo)>,
) -> BTreeMap<String, Vec<String>> {
    let mut by_serial: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, info) in items {
        if info.is_unknown() {
            continue;
        }
        let names = by_serial.entry(info.serial.clone()).or_default();
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    by_serial.retain(|_, names| names.len() > 1);
    by_serial
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by reading the code for the fuzz target: `\d` matches non-ASCII digits, and the
    /// last two were taken by bytes, which panicked inside a multi-byte digit.
    #[test]
    fn non_ascii_digits_do_not_split_a_character() {
        let p = SerialParser::default();
        let info = p.parse("S-1-10X_Image\u{663}1.tif"); // ARABIC-INDIC DIGIT THREE, then 1
        assert_eq!(info.serial, "S-1-\u{663}1");
        assert_eq!(p.parse("S-1-10X_Image\u{663}.tif").serial, "S-1-0\u{663}");
        crate::fuzzing::serial("S-1-10X_Image\u{663}1\u{663}".as_bytes());
    }

    #[test]
    fn table() {
        let p = SerialParser::default();
        let cases = [
            (
                "S-3602-10X_Image001_ch00.tif",
                "S-3602-01",
                "S-3602",
                Some("001"),
            ),
            (
                "S-4500-10x_Image123_RAW_ch00.tif",
                "S-4500-23",
                "S-4500",
                Some("123"),
            ),
            (
                "S-3602-10X_Image002_ch00.tif",
                "S-3602-02",
                "S-3602",
                Some("002"),
            ),
            (
                "S-4711-10x_Image 007 (copy) äö_RAW_ch00.tif",
                "S-4711-07",
                "S-4711",
                Some("007"),
            ),
            ("s-12-20x_image5.tif", "S-12-05", "S-12", Some("5")),
            (
                "/data/run1/S-4711-10x_Image004_LZW_ch00.tif",
                "S-4711-04",
                "S-4711",
                Some("004"),
            ),
            ("gray_800x600.tif", "UNKNOWN-00", "UNKNOWN", None),
            ("..%2F..%2Fetc.tif", "UNKNOWN-00", "UNKNOWN", None),
            ("", "UNKNOWN-00", "UNKNOWN", None),
        ];
        for (name, serial, group, image) in cases {
            let info = p.parse(name);
            assert_eq!(info.serial, serial, "{name}");
            assert_eq!(info.group, group, "{name}");
            assert_eq!(info.image_number.as_deref(), image, "{name}");
        }
    }

    #[test]
    fn collisions_are_reported_but_not_for_unknown() {
        let p = SerialParser::default();
        let names = [
            "S-3602-10X_Image001_ch00.tif",
            "S-3602-10X_Image101_ch00.tif",
            "S-3602-10X_Image002_ch00.tif",
            "a.tif",
            "b.tif",
        ];
        let infos: Vec<_> = names.iter().map(|n| p.parse(n)).collect();
        let c = collisions(names.iter().copied().zip(infos.iter()));
        assert_eq!(c.len(), 1);
        assert_eq!(
            c["S-3602-01"],
            [
                "S-3602-10X_Image001_ch00.tif",
                "S-3602-10X_Image101_ch00.tif"
            ]
        );
    }

    #[test]
    fn custom_pattern() {
        let p = SerialParser::new(r"^(?P<group>P\d+)_slide(?P<image>\d+)").unwrap();
        let i = p.parse("P17_slide3.tif");
        assert_eq!((i.serial.as_str(), i.group.as_str()), ("P17-03", "P17"));
        assert!(SerialParser::new(r"(?P<group>x)").is_err());
        assert!(SerialParser::new(r"(").is_err());
    }
}
