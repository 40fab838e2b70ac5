//! Text for keta. So far: the sentence-embedding pooling (masked mean over real tokens, then L2
//! normalisation) that the MiniLM encoder applies to its last hidden state.

mod pool;

pub use pool::masked_mean_l2;
