//! Rules for writing records out to spreadsheets.

/// Makes a text cell safe to open in Excel/LibreOffice: a cell that begins with `=`, `+`, `-`,
/// `@`, a tab or a carriage return would be read as a formula, so it gets a leading
/// apostrophe. Numbers are written as numbers and never pass through here.
pub fn csv_text(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

/// How a records CSV is written for the program that opens it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CsvStyle {
    /// Comma-separated, decimal point, formula guard on: Excel and LibreOffice where 1.5 is
    /// written with a point.
    #[default]
    Comma,
    /// Semicolon-separated, decimal comma, formula guard on: Excel and LibreOffice where 1.5 is
    /// written 1,5 (German, French …).
    Semicolon,
    /// Comma-separated, decimal point, every cell exactly as stored (no formula guard): for R,
    /// Python and scripts.
    Raw,
}

impl CsvStyle {
    /// From the export's `style` parameter.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "comma" => Some(Self::Comma),
            "semicolon" => Some(Self::Semicolon),
            "raw" => Some(Self::Raw),
            _ => None,
        }
    }

    pub fn delimiter(self) -> u8 {
        match self {
            Self::Semicolon => b';',
            Self::Comma | Self::Raw => b',',
        }
    }

    /// A number as this style writes it.
    pub fn number(self, v: f64) -> String {
        let s = v.to_string();
        match self {
            Self::Semicolon => s.replace('.', ","),
            Self::Comma | Self::Raw => s,
        }
    }

    /// A text cell: guarded against formulas except in the raw style.
    pub fn text(self, s: &str) -> String {
        match self {
            Self::Raw => s.to_string(),
            Self::Comma | Self::Semicolon => csv_text(s),
        }
    }

    /// The download's file name: `histoscore-export.csv`, `…-semicolon.csv`, `…-raw.csv`.
    pub fn file_name(self, base: &str) -> String {
        match self {
            Self::Comma => format!("{base}.csv"),
            Self::Semicolon => format!("{base}-semicolon.csv"),
            Self::Raw => format!("{base}-raw.csv"),
        }
    }
}

/// A column name in the export's one naming style: lower case, words joined by `_`
/// (`Pancreatic Architecture` → `pancreatic_architecture`).
pub fn column_name(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_write_numbers_text_and_names_their_files() {
        assert_eq!(CsvStyle::Semicolon.number(1.5), "1,5");
        assert_eq!(CsvStyle::Comma.number(1.5), "1.5");
        assert_eq!(CsvStyle::Raw.number(3.0), "3");
        assert_eq!(CsvStyle::Comma.text("=1+1"), "'=1+1");
        assert_eq!(CsvStyle::Semicolon.text("=1+1"), "'=1+1");
        assert_eq!(CsvStyle::Raw.text("=1+1"), "=1+1");
        assert_eq!(CsvStyle::Semicolon.delimiter(), b';');
        assert_eq!(
            CsvStyle::Raw.file_name("histoscore-export"),
            "histoscore-export-raw.csv"
        );
        assert_eq!(CsvStyle::parse("semicolon"), Some(CsvStyle::Semicolon));
        assert_eq!(CsvStyle::parse("excel"), None);
    }

    #[test]
    fn column_names_share_one_style() {
        assert_eq!(
            column_name("Pancreatic Architecture"),
            "pancreatic_architecture"
        );
        assert_eq!(column_name("Fibrosis"), "fibrosis");
        assert_eq!(
            column_name("  Glandular  Atrophy (%) "),
            "glandular_atrophy"
        );
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(
            csv_text("=cmd|' -C calc'!A0.tif"),
            "'=cmd|' -C calc'!A0.tif"
        );
        assert_eq!(csv_text("+1"), "'+1");
        assert_eq!(csv_text("-2"), "'-2");
        assert_eq!(csv_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_text("\tx"), "'\tx");
        assert_eq!(csv_text("\rx"), "'\rx");
        assert_eq!(csv_text("S-3602-01"), "S-3602-01");
        assert_eq!(csv_text(""), "");
    }
}
