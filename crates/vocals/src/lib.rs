//! What `/api/generate-vocals/` decides without a model, so it is tested here rather than
//! only end to end: the request and its checks ([`request`]), and the steps between the score
//! and the voice ([`voice`]): the words the `tts` graph speaks, the notes the `singer` graph
//! sings, and the level of the finished vocal.

pub mod request;
pub mod voice;

pub use request::{Engine, MelodySource, Validated, VocalsRequest};
