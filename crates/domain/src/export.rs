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

#[cfg(test)]
mod tests {
    use super::csv_text;

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
