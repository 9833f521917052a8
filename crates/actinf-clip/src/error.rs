//! Errors: each names the file, tensor, field or index at fault and what was
//! expected there.

use std::path::PathBuf;

/// Everything that can go wrong between a model directory and an embedding.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// The model directory does not exist or is not a directory.
    #[error("CLIP model directory {path} does not exist or is not a directory; expected a Hugging Face CLIP directory with config.json, model.safetensors, vocab.json + merges.txt (or tokenizer.json) and preprocessor_config.json")]
    MissingDirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A file the model needs is not in the directory.
    #[error("CLIP model file {path} is missing; expected {expected}")]
    MissingFile {
        /// The file looked for.
        path: PathBuf,
        /// What the file should hold.
        expected: String,
    },
    /// A file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is not valid JSON or lacks the structure expected.
    #[error("malformed {path}: field `{field}`: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The field at fault (dotted path, e.g. `text_config.hidden_size`).
        field: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// `merges.txt` (or the merges of `tokenizer.json`) has a bad line.
    #[error("malformed merges in {path}, line {line}: {reason}")]
    Merges {
        /// The file.
        path: PathBuf,
        /// 1-based line (or entry) number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The activation function named in the config is not one this crate computes.
    #[error("{path}: `{field}` is {found:?}; supported: \"quick_gelu\", \"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\"")]
    UnsupportedActivation {
        /// The config file.
        path: PathBuf,
        /// `text_config.hidden_act` or `vision_config.hidden_act`.
        field: String,
        /// The value found.
        found: String,
    },
    /// The weights file could not be parsed as safetensors.
    #[error("cannot load safetensors file {path}: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A tensor the architecture needs is not in the weights file.
    #[error("tensor `{name}` is missing from {path}; expected shape {expected:?}")]
    MissingTensor {
        /// The tensor name (Hugging Face CLIPModel naming).
        name: String,
        /// The weights file.
        path: PathBuf,
        /// The shape the config implies.
        expected: Vec<usize>,
    },
    /// A tensor has a shape other than the one the config implies.
    #[error(
        "tensor `{name}` in {path} has shape {found:?}, expected {expected:?} from config.json"
    )]
    TensorShape {
        /// The tensor name.
        name: String,
        /// The weights file.
        path: PathBuf,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A special token (`<|startoftext|>`, `<|endoftext|>`) is not in the vocabulary.
    #[error("the vocabulary has no special token {token:?}")]
    MissingSpecialToken {
        /// The token.
        token: String,
    },
    /// A BPE piece of the text has no id in the vocabulary.
    #[error("token {token:?} (from {text:?}) is not in the vocabulary")]
    UnknownToken {
        /// The BPE piece.
        token: String,
        /// The text being tokenised.
        text: String,
    },
    /// A token id is beyond the embedding table.
    #[error("token id {id} at position {index} is out of range for a vocabulary of {vocab_size}")]
    TokenOutOfRange {
        /// The id.
        id: u32,
        /// Its position in the sequence.
        index: usize,
        /// Rows of the token embedding.
        vocab_size: usize,
    },
    /// The text has more tokens (with start and end markers) than positions.
    #[error("text {text:?} is {tokens} tokens long with its start and end markers, more than the model's {max} positions (max_position_embeddings); shorten it")]
    TextTooLong {
        /// The text.
        text: String,
        /// Its token count including BOS/EOS.
        tokens: usize,
        /// `text_config.max_position_embeddings`.
        max: usize,
    },
    /// A token-id sequence that is empty or longer than the context.
    #[error("a sequence of {tokens} token ids; expected 1 to {max} (max_position_embeddings)")]
    SequenceLength {
        /// Ids given.
        tokens: usize,
        /// `text_config.max_position_embeddings`.
        max: usize,
    },
    /// An image with no pixels.
    #[error("image is empty ({width}×{height}); expected at least 1×1 pixel")]
    EmptyImage {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// An image whose pixel buffer does not match its size.
    #[error("image buffer holds {found} bytes, expected {expected} for {width}×{height} RGB")]
    ImageBuffer {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// A zero (or absurd) output grid.
    #[error("grid {grid} is invalid; expected 1 ≤ grid ≤ {max}")]
    BadGrid {
        /// The grid asked for.
        grid: usize,
        /// The largest grid accepted.
        max: usize,
    },
    /// A tensor operation failed (a bug or an inconsistency the checks above missed).
    #[error("tensor computation failed in {context}: {source}")]
    Candle {
        /// Where.
        context: String,
        /// The candle error.
        #[source]
        source: candle_core::Error,
    },
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, ClipError>;

/// Attach a context label to candle errors.
pub(crate) trait CandleContext<T> {
    /// Wrap a candle error with where it happened.
    fn ctx(self, context: &str) -> Result<T>;
}

impl<T> CandleContext<T> for candle_core::Result<T> {
    fn ctx(self, context: &str) -> Result<T> {
        self.map_err(|source| ClipError::Candle {
            context: context.to_string(),
            source,
        })
    }
}
