//! Aligned text tables for the human output of `job list` and `exec list`.
//!
//! Hand-aligned rather than a table crate: the tables are a header and a few plain
//! columns, which is a dozen lines, where the crates bring borders, colours and wrapping
//! we do not use.

/// Rows under a header, each column as wide as its widest cell.
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

/// The space between two columns.
const GAP: &str = "  ";

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it has as many cells as the header.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    /// The table as lines, without trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header = self.header.iter().map(|h| (*h).to_owned()).collect();
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str(GAP);
                }
                line.push_str(cell);
                let pad = width - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.pop();
        out
    }
}

/// `text` on one line and at most `max` characters: the first line, cut with `…`.
pub(crate) fn cell(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let more_lines = text.trim_end().lines().nth(1).is_some();
    if first.chars().count() <= max && !more_lines {
        return first.to_owned();
    }
    let kept: String = first.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_their_widest_cell() {
        let mut t = Table::new(&["ID", "NAME", "STATE"]);
        t.row(vec!["a1".into(), "nightly report".into(), "active".into()]);
        t.row(vec!["b22222".into(), "x".into(), "".into()]);
        assert_eq!(
            t.render(),
            "ID      NAME            STATE\n\
             a1      nightly report  active\n\
             b22222  x"
        );
    }

    #[test]
    fn an_empty_table_is_its_header() {
        assert_eq!(Table::new(&["ID", "NAME"]).render(), "ID  NAME");
    }

    #[test]
    fn cells_are_one_short_line() {
        assert_eq!(cell("short", 10), "short");
        assert_eq!(cell("exactly10!", 10), "exactly10!");
        assert_eq!(cell("much too long", 8), "much to…");
        assert_eq!(cell("first\nsecond", 20), "first…");
        assert_eq!(cell("", 5), "");
        assert_eq!(cell("ünïcödé text", 6), "ünïcö…");
    }
}
