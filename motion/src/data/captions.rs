//! HumanML3D caption files: `texts/<id>.txt`, one `caption#word/POS ...#start#end` a line.

use std::path::Path;

use crate::error::{Error, Result};

/// Frames per second of HumanML3D motions (and of ours).
pub const FPS: f64 = 20.0;

/// One caption line.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionLine {
    pub caption: String,
    /// `word/POS` tokens as written in the file (may be empty).
    pub tokens: Vec<String>,
    /// The described part of the motion in feature rows, `None` for the whole clip (`0.0#0.0`).
    pub rows: Option<std::ops::Range<usize>>,
}

/// Parses one line (1-based `line_no` for messages). `nan` start/end read as 0, as the reference does.
pub fn parse_line(path: &Path, line_no: usize, line: &str) -> Result<CaptionLine> {
    let bad = |msg: String| Error::Line {
        path: path.to_path_buf(),
        line: line_no,
        msg,
    };
    let fields: Vec<&str> = line.trim_end_matches(['\r', '\n']).split('#').collect();
    if fields.len() < 4 {
        return Err(bad(format!(
            "expected `caption#tokens#start#end`, found {} '#'-separated field(s)",
            fields.len()
        )));
    }
    let caption = fields[0].trim();
    if caption.is_empty() {
        return Err(bad("empty caption".into()));
    }
    let time = |s: &str, what: &str| -> Result<f64> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| bad(format!("{what} time {s:?} is not a number")))?;
        match v {
            v if v.is_nan() => Ok(0.0),
            v if v.is_infinite() || v < 0.0 => {
                Err(bad(format!("{what} time {s:?} must be finite and >= 0")))
            }
            v => Ok(v),
        }
    };
    let (start, end) = (time(fields[2], "start")?, time(fields[3], "end")?);
    let rows = if start == 0.0 && end == 0.0 {
        None
    } else if start >= end {
        return Err(bad(format!("start {start} s is not before end {end} s")));
    } else {
        Some((start * FPS) as usize..(end * FPS) as usize)
    };
    let tokens = fields[1].split_whitespace().map(str::to_string).collect();
    Ok(CaptionLine {
        caption: caption.to_string(),
        tokens,
        rows,
    })
}

/// Reads every non-blank line of a caption file.
pub fn read_caption_file(path: &Path) -> Result<Vec<CaptionLine>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::file(path, format!("cannot read captions: {e}")))?;
    let lines: Vec<CaptionLine> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| parse_line(path, i + 1, l))
        .collect::<Result<_>>()?;
    if lines.is_empty() {
        return Err(Error::file(path, "no caption lines"));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<CaptionLine> {
        parse_line(Path::new("texts/000001.txt"), 3, line)
    }

    #[test]
    fn parses_whole_clips_and_sub_clips() {
        let l = parse("a man walks forward.#a/DET man/NOUN walk/VERB forward/ADV#0.0#0.0").unwrap();
        assert_eq!(l.caption, "a man walks forward.");
        assert_eq!(
            l.tokens,
            vec!["a/DET", "man/NOUN", "walk/VERB", "forward/ADV"]
        );
        assert_eq!(l.rows, None);
        assert_eq!(parse("x#a/DET#nan#nan").unwrap().rows, None);
        assert_eq!(parse("x#a/DET#1.5#3.27").unwrap().rows, Some(30..65));
    }

    #[test]
    fn bad_lines_name_file_line_and_problem() {
        let e = parse("a man walks forward").unwrap_err().to_string();
        assert!(
            e.starts_with("texts/000001.txt:3:") && e.contains("caption#tokens#start#end"),
            "{e}"
        );
        let e = parse("x#t#4.0#2.0").unwrap_err().to_string();
        assert!(e.contains("start 4 s is not before end 2 s"), "{e}");
        let e = parse("x#t#abc#2.0").unwrap_err().to_string();
        assert!(e.contains("\"abc\" is not a number"), "{e}");
        assert!(parse("#t#0#0").is_err());
    }
}
