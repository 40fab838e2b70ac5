//! Word vectors for the evaluator's text side, and the reference's token -> (vector, POS class)
//! rule (`utils/word_vectorizer.py` `WordVectorizer.__getitem__`): a word in the vocabulary gets
//! its row and its VIP class if a VIP list names it, else the class of its tag; a word outside
//! the vocabulary gets the `unk` row and OTHER.
//!
//! A vocabulary folder holds `words.txt` (one word a line, in row order) and `vectors.npy`
//! (`[V, D]` float32, C or Fortran order). `scripts/setup.sh` fills `<assets>/glove-6b-50d` from
//! the 50-d GloVe 6B (400k words, which include `unk`, `sos` and `eos`: the evaluator's `sos/OTHER`
//! and `eos/OTHER` get GloVe's own rows for those words and the OTHER class, deterministically);
//! `scripts/convert_evaluator.py` writes the official evaluator's 300-d vocabulary in this form.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use ndarray_npy::ReadNpyExt;
use tch::{Device, Kind, Tensor};

use crate::error::{file_err, Error, Result};
use crate::pos::{PosClass, TokenSequence, POS_CLASSES};

/// Where downloaded assets live: `KETA_ASSETS`, else `<repo>/.assets` (the repo root from
/// `KETA_HOME` or this crate's build-time location), as the `text` crate resolves them.
pub fn assets_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KETA_ASSETS") {
        return PathBuf::from(dir);
    }
    std::env::var_os("KETA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .join(".assets")
}

/// Name of the 50-d GloVe folder under the assets directory.
pub const GLOVE_50D: &str = "glove-6b-50d";

/// The word that unknown words map to.
pub const UNK: &str = "unk";

/// A vocabulary: words and their vectors.
#[derive(Debug)]
pub struct WordVectors {
    index: HashMap<String, usize>,
    /// `[V, D]` float32 on the CPU.
    vectors: Tensor,
    unk: usize,
}

impl WordVectors {
    /// Words in row order and their vectors `[V, D]`; `unk` must be among the words.
    pub fn new(words: Vec<String>, vectors: Tensor) -> Result<Self> {
        let size = vectors.size();
        if size.len() != 2 || size[0] as usize != words.len() {
            return Err(Error::Shape {
                what: "word vectors".into(),
                expected: format!("[{}, D] (one row per word)", words.len()),
                got: size,
            });
        }
        let vectors = vectors.to_kind(Kind::Float).to_device(Device::Cpu);
        let finite = vectors.isfinite().all().int64_value(&[]) == 1;
        if !finite {
            return Err(Error::Invalid(
                "word vectors hold NaN or infinite values; re-create the vocabulary (scripts/setup.sh or scripts/convert_evaluator.py)".into(),
            ));
        }
        let mut index = HashMap::with_capacity(words.len());
        for (row, w) in words.into_iter().enumerate() {
            // A repeated word keeps its first row (GloVe and the reference vocabulary have none).
            index.entry(w).or_insert(row);
        }
        let unk = *index.get(UNK).ok_or_else(|| {
            Error::Invalid(format!(
                "the vocabulary has no `{UNK}` word, which unknown words map to; add it"
            ))
        })?;
        Ok(WordVectors {
            index,
            vectors,
            unk,
        })
    }

    /// Reads `dir/words.txt` and `dir/vectors.npy`.
    pub fn load(dir: &Path) -> Result<Self> {
        let words_path = dir.join("words.txt");
        let text = std::fs::read_to_string(&words_path).map_err(|e| {
            file_err(
                &words_path,
                format!("{e}; the default vocabulary comes from scripts/setup.sh"),
            )
        })?;
        let words: Vec<String> = text.lines().map(str::to_string).collect();
        let npy_path = dir.join("vectors.npy");
        let file = std::fs::File::open(&npy_path).map_err(|e| file_err(&npy_path, e))?;
        let array = Array2::<f32>::read_npy(std::io::BufReader::new(file))
            .map_err(|e| file_err(&npy_path, format!("not a 2-d float32 .npy: {e}")))?;
        let (rows, dim) = array.dim();
        if rows != words.len() {
            return Err(file_err(
                &npy_path,
                format!(
                    "{rows} rows but words.txt has {} words; the two files must come from one vocabulary",
                    words.len()
                ),
            ));
        }
        let flat: Vec<f32> = array.iter().copied().collect(); // row-major whatever the file's order
        let vectors = Tensor::from_slice(&flat).reshape([rows as i64, dim as i64]);
        WordVectors::new(words, vectors).map_err(|e| file_err(dir, e))
    }

    /// The 50-d GloVe that `scripts/setup.sh` installs.
    pub fn load_default() -> Result<Self> {
        Self::load(&assets_dir().join(GLOVE_50D))
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Vector size D.
    pub fn dim(&self) -> usize {
        self.vectors.size()[1] as usize
    }

    /// The row of a word, `None` outside the vocabulary.
    pub fn row(&self, word: &str) -> Option<usize> {
        self.index.get(word).copied()
    }

    /// The vector `[D]` of a word, the `unk` vector outside the vocabulary.
    pub fn vector(&self, word: &str) -> Tensor {
        self.vectors.get(self.row(word).unwrap_or(self.unk) as i64)
    }

    /// Vector row and POS class of one `word/POS` token, by the reference's rule.
    pub fn token(&self, token: &str) -> Result<(usize, PosClass)> {
        let (word, tag) = token.rsplit_once('/').ok_or_else(|| {
            Error::Invalid(format!(
                "token {token:?} is not of the form word/POS (HumanML3D text files and pos::humanml3d_tokens write them so)"
            ))
        })?;
        Ok(match self.row(word) {
            Some(row) => (
                row,
                PosClass::vip(word).unwrap_or_else(|| PosClass::from_tag(tag)),
            ),
            None => (self.unk, PosClass::Other),
        })
    }

    /// Word vectors `[N, L, D]` and POS one-hots `[N, L, 15]` of token sequences (all of the
    /// same padded length L), on `device`.
    pub fn embed(&self, seqs: &[TokenSequence], device: Device) -> Result<(Tensor, Tensor)> {
        let width = seqs.first().map_or(0, |s| s.tokens.len());
        let mut rows = Vec::with_capacity(seqs.len() * width);
        let mut classes = Vec::with_capacity(seqs.len() * width);
        for seq in seqs {
            if seq.tokens.len() != width {
                return Err(Error::Invalid(format!(
                    "token sequences of lengths {width} and {} in one batch; build them all with pos::evaluator_tokens",
                    seq.tokens.len()
                )));
            }
            for t in &seq.tokens {
                let (row, class) = self.token(t)?;
                rows.push(row as i64);
                classes.push(class as i64);
            }
        }
        let (n, l) = (seqs.len() as i64, width as i64);
        let words = self
            .vectors
            .index_select(0, &Tensor::from_slice(&rows))
            .reshape([n, l, self.dim() as i64]);
        let pos = Tensor::from_slice(&classes)
            .one_hot(POS_CLASSES as i64)
            .to_kind(Kind::Float)
            .reshape([n, l, POS_CLASSES as i64]);
        Ok((words.to_device(device), pos.to_device(device)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pos::{evaluator_tokens, humanml3d_tokens};
    use ndarray_npy::WriteNpyExt;

    fn tiny() -> WordVectors {
        let words = ["unk", "a", "person", "walk", "left", "sos", "eos"];
        let vectors = Tensor::arange(words.len() as i64 * 2, (Kind::Float, Device::Cpu))
            .reshape([words.len() as i64, 2]);
        WordVectors::new(words.iter().map(|w| w.to_string()).collect(), vectors).unwrap()
    }

    #[test]
    fn tokens_follow_the_reference_vectorizer() {
        let v = tiny();
        // In the vocabulary: own row; VIP list overrides the tag.
        assert_eq!(v.token("walk/VERB").unwrap(), (3, PosClass::ActVip));
        assert_eq!(v.token("person/NOUN").unwrap(), (2, PosClass::Noun));
        assert_eq!(v.token("left/ADJ").unwrap(), (4, PosClass::LocVip));
        // Outside: unk row and OTHER, even for a VIP word.
        assert_eq!(v.token("hand/NOUN").unwrap(), (0, PosClass::Other));
        assert_eq!(v.token("sos/OTHER").unwrap(), (5, PosClass::Other));
        assert!(v.token("nonsense").is_err());
        let seq = evaluator_tokens(&humanml3d_tokens("a person walks"));
        let (w, p) = v.embed(&[seq], Device::Cpu).unwrap();
        assert_eq!(w.size(), [1, 22, 2]);
        assert_eq!(p.size(), [1, 22, 15]);
        // Third token is "person" -> row 2 = [4, 5]; its one-hot is NOUN.
        assert_eq!(Vec::<f32>::try_from(w.get(0).get(2)).unwrap(), [4.0, 5.0]);
        assert_eq!(p.get(0).get(2).argmax(0, false).int64_value(&[]), 1);
        // Padding is unk/OTHER.
        assert_eq!(Vec::<f32>::try_from(w.get(0).get(21)).unwrap(), [0.0, 1.0]);
        assert_eq!(p.get(0).get(21).argmax(0, false).int64_value(&[]), 14);
    }

    #[test]
    fn load_checks_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            WordVectors::load(dir.path()),
            Err(Error::File { .. })
        ));
        std::fs::write(dir.path().join("words.txt"), "unk\nwalk\nrun\n").unwrap();
        let write = |a: Array2<f32>| {
            let f = std::fs::File::create(dir.path().join("vectors.npy")).unwrap();
            a.write_npy(f).unwrap();
        };
        write(Array2::zeros((2, 4)));
        let err = WordVectors::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("2 rows but words.txt has 3 words"), "{err}");
        let mut a = Array2::zeros((3, 4));
        a[[1, 2]] = f32::NAN;
        write(a);
        let err = WordVectors::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("NaN"), "{err}");
        // Fortran order reads as the same matrix.
        let c = Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f32);
        write(c.t().as_standard_layout().into_owned().reversed_axes());
        let v = WordVectors::load(dir.path()).unwrap();
        assert_eq!(
            Vec::<f32>::try_from(v.vector("run")).unwrap(),
            [8.0, 9.0, 10.0, 11.0]
        );
        assert_eq!(
            Vec::<f32>::try_from(v.vector("fly")).unwrap(),
            [0.0, 1.0, 2.0, 3.0]
        );
        std::fs::write(dir.path().join("words.txt"), "a\nwalk\nrun\n").unwrap();
        let err = WordVectors::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no `unk`"), "{err}");
    }

    /// The installed GloVe (scripts/setup.sh): 400k x 50, with unk, sos and eos.
    #[test]
    fn installed_glove_has_the_evaluator_words() {
        let v = WordVectors::load_default().expect("run scripts/setup.sh to install GloVe");
        assert_eq!((v.len(), v.dim()), (400_000, 50));
        for w in ["unk", "sos", "eos", "walk", "counterclockwise"] {
            assert!(v.row(w).is_some(), "{w}");
        }
        let the: Vec<f32> = Vec::try_from(v.vector("the").narrow(0, 0, 3)).unwrap();
        approx::assert_abs_diff_eq!(
            the.as_slice(),
            [0.418f32, 0.24968, -0.41242].as_slice(),
            epsilon = 1e-6
        );
    }
}
