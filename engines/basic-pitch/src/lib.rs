//! The `pitch` graph: Basic Pitch (Spotify, ICASSP 2022) reads notes from a recording.
//!
//! The model takes 2-second windows of 22.05 kHz audio (43,844 samples) and gives, per frame
//! (86 a second), note and onset likelihoods for the 88 piano keys. Windows overlap by 30
//! frames; half the overlap is dropped from each side and the rest joined, as Basic Pitch's
//! own inference does. A hummed or sung melody has one note at a time, so notes are read
//! monophonically: the likeliest key per frame above a threshold, runs of one key joined over
//! short gaps, split where a fresh onset of the same key rises, and very short runs dropped.
//!
//! Contract: `audio` f32 [1, N] mono at 22,050 Hz, optional `options` u8 JSON
//! `{frame_threshold, onset_threshold, min_note_ms}` → `notes` u8 JSON
//! `{"notes": [{start_s, end_s, midi, confidence}], "frames", "fps"}`.

use songforge_inference::contract::pitch::{self, Heard};
pub use songforge_inference::contract::pitch::{HeardNote, MAX_SECONDS, Options, SAMPLE_RATE};
use songforge_inference::{
    Device, Engine, EngineError, NamedTensor, Tensor, TensorType, input, optional_json,
};
use songforge_onnx::ort::session::Session;
use songforge_onnx::ort::value::Tensor as OrtTensor;
use songforge_onnx::{ort, runtime_error};
use std::path::Path;
use std::sync::Mutex;

/// Samples in one window.
const WINDOW: usize = 43_844;
/// Frames the model gives for one window.
const WINDOW_FRAMES: usize = 172;
/// Frames two neighbouring windows share.
const OVERLAP_FRAMES: usize = 30;
/// Samples per frame.
const HOP: usize = 256;
/// Lowest key (A0).
const LOWEST_MIDI: u8 = 21;

/// A loaded Basic Pitch model.
pub struct BasicPitchEngine {
    model: String,
    session: Mutex<Session>,
    input: String,
    note_output: String,
    onset_output: String,
}

impl BasicPitchEngine {
    /// Loads `model.onnx` from `dir` with ONNX Runtime from `runtime`.
    pub fn load_on(
        model_id: &str,
        dir: &Path,
        runtime: &Path,
        device: Device,
        threads: usize,
    ) -> Result<Self, EngineError> {
        let session = songforge_onnx::session(runtime, &dir.join("model.onnx"), device, threads)?;
        let input = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| EngineError::Unavailable("the pitch model has no input".into()))?;
        // The exported graph names its outputs by position: 0 contour, 1 note, 2 onset.
        let names: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let find = |suffix: &str| {
            names
                .iter()
                .find(|n| n.ends_with(suffix))
                .cloned()
                .ok_or_else(|| {
                    EngineError::Unavailable(format!("the pitch model has no output `…{suffix}`"))
                })
        };
        Ok(BasicPitchEngine {
            model: model_id.to_string(),
            note_output: find(":1")?,
            onset_output: find(":2")?,
            session: Mutex::new(session),
            input,
        })
    }

    /// Note and onset likelihoods, frame by frame (88 values each).
    #[allow(clippy::type_complexity)]
    fn posteriors(
        &self,
        audio: &[f32],
    ) -> Result<(Vec<[f32; 88]>, Vec<[f32; 88]>, Vec<f64>), EngineError> {
        let overlap = OVERLAP_FRAMES * HOP;
        let hop = WINDOW - overlap;
        // Basic Pitch pads the front by half the overlap so the first frames are whole.
        let mut padded = vec![0f32; overlap / 2];
        padded.extend_from_slice(audio);
        let mut notes = Vec::new();
        let mut onsets = Vec::new();
        let mut times = Vec::new();
        let mut session = self
            .session
            .lock()
            .map_err(|_| EngineError::Runtime("the pitch session was poisoned".into()))?;
        let mut start = 0;
        while start < padded.len() {
            let mut window = vec![0f32; WINDOW];
            let end = (start + WINDOW).min(padded.len());
            window[..end - start].copy_from_slice(&padded[start..end]);
            let tensor =
                OrtTensor::from_array(([1usize, WINDOW, 1], window)).map_err(runtime_error)?;
            let out = session
                .run(ort::inputs![self.input.as_str() => tensor])
                .map_err(runtime_error)?;
            let keep = OVERLAP_FRAMES / 2..WINDOW_FRAMES - OVERLAP_FRAMES / 2;
            // A kept frame's time in the recording: windows advance by `hop` samples, which
            // is not a whole number of frames, so each window's frames are timed from its start.
            times.extend(
                keep.clone().map(|f| {
                    (start + (f - OVERLAP_FRAMES / 2) * HOP) as f64 / f64::from(SAMPLE_RATE)
                }),
            );
            for (name, into) in [
                (&self.note_output, &mut notes),
                (&self.onset_output, &mut onsets),
            ] {
                let (_, data) = out[name.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(runtime_error)?;
                if data.len() != WINDOW_FRAMES * 88 {
                    return Err(EngineError::Runtime(format!(
                        "the pitch model gave {} values for a window, expected {}",
                        data.len(),
                        WINDOW_FRAMES * 88
                    )));
                }
                for f in keep.clone() {
                    let mut row = [0f32; 88];
                    row.copy_from_slice(&data[f * 88..(f + 1) * 88]);
                    into.push(row);
                }
            }
            start += hop;
        }
        let wanted = audio.len() / HOP;
        notes.truncate(wanted);
        onsets.truncate(wanted);
        times.truncate(wanted);
        Ok((notes, onsets, times))
    }
}

/// Frames a second.
pub fn fps() -> f64 {
    f64::from(SAMPLE_RATE) / HOP as f64
}

/// Monophonic notes from note and onset likelihoods (see the module doc).
pub fn read_notes(
    notes: &[[f32; 88]],
    onsets: &[[f32; 88]],
    times: &[f64],
    options: &Options,
) -> Vec<HeardNote> {
    let key_at: Vec<Option<usize>> = notes
        .iter()
        .map(|row| {
            let (k, p) = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(k, p)| (k, *p))
                .unwrap_or((0, 0.0));
            (p >= options.frame_threshold).then_some(k)
        })
        .collect();
    let min_frames = ((options.min_note_ms / 1000.0) as f64 * fps())
        .ceil()
        .max(1.0) as usize;
    const MAX_GAP: usize = 2;
    let mut runs: Vec<(usize, usize, usize)> = Vec::new(); // (key, start, end exclusive)
    let mut t = 0;
    while t < key_at.len() {
        let Some(k) = key_at[t] else {
            t += 1;
            continue;
        };
        let start = t;
        let mut end = t + 1;
        let mut gap = 0;
        let mut u = t + 1;
        while u < key_at.len() {
            match key_at[u] {
                Some(k2) if k2 == k => {
                    // A fresh onset of the same key starts a new note when the note dipped
                    // just before it (a re-articulation) and a whole note follows. The onset
                    // head also stirs as a note fades, without a dip first: that is no split.
                    let held = notes[start..u].iter().map(|r| r[k]).sum::<f32>()
                        / (u - start).max(1) as f32;
                    let dipped = notes[u.saturating_sub(3)..u]
                        .iter()
                        .any(|r| r[k] < 0.85 * held);
                    let fresh = onsets[u][k] >= options.onset_threshold
                        && u >= 1
                        && onsets[u][k] >= onsets[u - 1][k]
                        && onsets.get(u + 1).is_none_or(|next| onsets[u][k] >= next[k])
                        && u - start >= min_frames
                        && dipped
                        && key_at.len() >= u + min_frames
                        && key_at[u..u + min_frames].iter().all(|x| *x == Some(k));
                    if fresh {
                        break;
                    }
                    end = u + 1;
                    gap = 0;
                }
                _ => {
                    gap += 1;
                    if gap > MAX_GAP {
                        break;
                    }
                }
            }
            u += 1;
        }
        runs.push((k, start, end));
        t = end;
    }
    let fps = fps();
    runs.into_iter()
        .filter(|(_, a, b)| b - a >= min_frames)
        .map(|(k, a, b)| HeardNote {
            start_s: round4(times[a]),
            end_s: round4(times[b - 1] + 1.0 / fps),
            midi: LOWEST_MIDI + k as u8,
            confidence: notes[a..b].iter().map(|row| row[k]).sum::<f32>() / (b - a) as f32,
        })
        .collect()
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

impl Engine for BasicPitchEngine {
    fn model(&self) -> &str {
        &self.model
    }

    fn task(&self) -> &str {
        "melody"
    }

    fn compute(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, EngineError> {
        let audio = input(&inputs, pitch::AUDIO)?;
        if audio.ty != TensorType::F32 {
            return Err(EngineError::InvalidInput(
                "audio: expected f32 [1, N] at 22,050 Hz".into(),
            ));
        }
        let samples = audio.to_f32()?;
        if samples.len() > MAX_SECONDS * SAMPLE_RATE as usize {
            return Err(EngineError::TooLarge(format!(
                "audio: {:.0} s; at most {MAX_SECONDS} s",
                samples.len() as f64 / f64::from(SAMPLE_RATE)
            )));
        }
        if samples.len() < HOP * 4 {
            return Err(EngineError::InvalidInput(
                "audio: shorter than 50 ms".into(),
            ));
        }
        let options: Options = optional_json(&inputs, pitch::OPTIONS)?;
        let (notes, onsets, times) = self.posteriors(&samples)?;
        let read = read_notes(&notes, &onsets, &times, &options);
        let json = Tensor::json(&Heard {
            notes: read,
            frames: notes.len(),
            fps: fps(),
        })
        .map_err(runtime_error)?;
        Ok(vec![NamedTensor::new(pitch::NOTES, json)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64 / fps()).collect()
    }

    fn frames(
        spec: &[(Option<usize>, f32)],
        onset_at: &[usize],
    ) -> (Vec<[f32; 88]>, Vec<[f32; 88]>) {
        let mut notes = Vec::new();
        for &(key, p) in spec {
            let mut row = [0.05f32; 88];
            if let Some(k) = key {
                row[k] = p;
            }
            notes.push(row);
        }
        let mut onsets = vec![[0f32; 88]; notes.len()];
        for &t in onset_at {
            for row in onsets.iter_mut().skip(t).take(1) {
                row[36] = 0.9;
            }
        }
        (notes, onsets)
    }

    #[test]
    fn held_keys_become_notes_gaps_join_and_fresh_onsets_split() {
        // 20 frames of key 36 (A3 = 57) with a 2-frame dip, 10 silent, 20 of key 39.
        let mut spec = vec![(Some(36), 0.8); 10];
        spec.extend(vec![(None, 0.0); 2]);
        spec.extend(vec![(Some(36), 0.8); 10]);
        spec.extend(vec![(None, 0.0); 10]);
        spec.extend(vec![(Some(39), 0.7); 20]);
        let (n, o) = frames(&spec, &[]);
        let read = read_notes(&n, &o, &times(n.len()), &Options::default());
        assert_eq!(
            read.iter().map(|r| r.midi).collect::<Vec<_>>(),
            vec![57, 60]
        );
        assert!((read[0].end_s - 22.0 / fps()).abs() < 1e-3);
        // The same key struck again mid-note (a dip, then an onset) is two notes.
        let mut again = vec![(Some(36), 0.8); 40];
        again[18] = (Some(36), 0.5);
        again[19] = (Some(36), 0.5);
        let (n, o) = frames(&again, &[20]);
        let read = read_notes(&n, &o, &times(n.len()), &Options::default());
        assert_eq!(read.len(), 2, "{read:?}");
        assert!((read[1].start_s - 20.0 / fps()).abs() < 1e-3);
        // An onset bump in the last frames of a note (its release) does not split it.
        let (n, o) = frames(&[(Some(36), 0.8); 40], &[36]);
        assert_eq!(
            read_notes(&n, &o, &times(n.len()), &Options::default()).len(),
            1
        );
        // Too short to be a note.
        let (n, o) = frames(&[(Some(36), 0.8); 3], &[]);
        assert!(read_notes(&n, &o, &times(n.len()), &Options::default()).is_empty());
    }
}
