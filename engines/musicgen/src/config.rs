//! `config.json` as Hugging Face writes it for MusicGen: the T5 text encoder, the EnCodec
//! audio encoder and the decoder, plus MusicGen Melody's chroma settings.

use crate::decoder::DecoderConfig;
use candle_transformers::models::{encodec, t5};
use serde::Deserialize;

/// `audio_encoder` of `config.json`, with Hugging Face's spellings.
#[derive(Debug, Clone, Deserialize)]
pub struct AudioConfig {
    pub sampling_rate: usize,
    #[serde(default = "one")]
    pub audio_channels: usize,
    pub target_bandwidths: Vec<f64>,
    #[serde(default)]
    pub normalize: bool,
    pub hidden_size: usize,
    pub num_filters: usize,
    pub num_residual_layers: usize,
    pub upsampling_ratios: Vec<usize>,
    pub norm_type: String,
    pub kernel_size: usize,
    pub last_kernel_size: usize,
    pub residual_kernel_size: usize,
    pub dilation_growth_rate: usize,
    pub use_causal_conv: bool,
    pub pad_mode: String,
    pub compress: usize,
    pub num_lstm_layers: usize,
    #[serde(default = "ratio")]
    pub trim_right_ratio: f64,
    pub codebook_size: usize,
    pub codebook_dim: Option<usize>,
    #[serde(default)]
    pub use_conv_shortcut: bool,
}

fn one() -> usize {
    1
}
fn ratio() -> f64 {
    1.0
}

impl AudioConfig {
    /// candle's EnCodec config.
    pub fn to_encodec(&self) -> Result<encodec::Config, String> {
        Ok(encodec::Config {
            target_bandwidths: self.target_bandwidths.clone(),
            sampling_rate: self.sampling_rate,
            audio_channels: self.audio_channels,
            normalize: self.normalize,
            chunk_length_s: None,
            overlap: None,
            hidden_size: self.hidden_size,
            num_filters: self.num_filters,
            num_residual_layers: self.num_residual_layers,
            upsampling_ratios: self.upsampling_ratios.clone(),
            norm_type: match self.norm_type.as_str() {
                "weight_norm" => encodec::NormType::WeightNorm,
                "time_group_norm" => encodec::NormType::TimeGroupNorm,
                other => {
                    return Err(format!(
                        "audio_encoder.norm_type `{other}` is not supported"
                    ));
                }
            },
            kernel_size: self.kernel_size,
            last_kernel_size: self.last_kernel_size,
            residual_kernel_size: self.residual_kernel_size,
            dilation_growth_rate: self.dilation_growth_rate,
            use_causal_conv: self.use_causal_conv,
            // candle's EnCodec pads only by constant or replicate. MusicGen's 32 kHz EnCodec
            // was trained with reflect padding; replicate differs only in the few samples
            // each convolution pads at the two ends of a piece (tens of milliseconds at its
            // very start and end), so it stands in for it.
            pad_mode: match self.pad_mode.as_str() {
                "reflect" | "replicate" => encodec::PadMode::Replicate,
                "constant" => encodec::PadMode::Constant,
                other => return Err(format!("audio_encoder.pad_mode `{other}` is not supported")),
            },
            compress: self.compress,
            num_lstm_layers: self.num_lstm_layers,
            trim_right_ratio: self.trim_right_ratio,
            codebook_size: self.codebook_size,
            codebook_dim: self.codebook_dim,
            use_conv_shortcut: self.use_conv_shortcut,
        })
    }

    /// Samples per EnCodec frame.
    pub fn hop(&self) -> usize {
        self.upsampling_ratios.iter().product()
    }
}

/// A MusicGen `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct MusicgenConfig {
    /// `musicgen` (small, medium, large) or `musicgen_melody` (melody, melody-large).
    #[serde(default)]
    pub model_type: Option<String>,
    pub text_encoder: t5::Config,
    pub audio_encoder: AudioConfig,
    pub decoder: DecoderConfig,
    /// Melody checkpoints: chroma classes per frame (12).
    #[serde(default)]
    pub num_chroma: Option<usize>,
    /// Melody checkpoints: chroma frames in the prefix (235, 30 s).
    #[serde(default)]
    pub chroma_length: Option<usize>,
}

impl MusicgenConfig {
    /// Whether this is a MusicGen Melody checkpoint; other model types are refused.
    pub fn is_melody(&self) -> Result<bool, String> {
        match self.model_type.as_deref() {
            None | Some("musicgen") => Ok(false),
            Some("musicgen_melody") => Ok(true),
            Some(other) => Err(format!(
                "model_type `{other}` is not supported; this engine runs MusicGen \
                 (`musicgen`: small, medium, large) and MusicGen Melody (`musicgen_melody`)"
            )),
        }
    }
}

/// MusicGen Melody's defaults when `config.json` leaves them out.
pub(crate) const DEFAULT_NUM_CHROMA: usize = 12;
pub(crate) const DEFAULT_CHROMA_LENGTH: usize = 235;
