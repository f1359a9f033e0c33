//! Long-form transcription: 30 s windows seeked by predicted timestamps, beam search or
//! sampling with Whisper's logit rules, temperature fallback, and segment stitching.
//!
//! The defaults and the order of checks follow faster-whisper (beam 5, temperatures 0–1 in
//! steps of 0.2, compression-ratio 2.4, log-prob −1, no-speech 0.6, previous text as prompt),
//! so results can be compared word for word with that peer on the same weights.

use crate::checkpoint::SuppressLists;
use crate::mel::{self, WINDOW_FRAMES};
use crate::model::{CrossCache, Whisper};
use crate::tokens::WhisperTokens;
use candle_core::{Result, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::io::Write;

/// Seconds per timestamp token (two mel frames).
const TIME_PRECISION: f64 = 0.02;
/// Seconds per mel frame.
const FRAME_SECONDS: f64 = 0.01;
/// Most tokens generated per window, as Whisper samples (half the text context).
const MAX_NEW_TOKENS: usize = 224;
/// The first timestamp may not be later than this many tokens (1 s).
const MAX_INITIAL_TIMESTAMP: u32 = 50;

pub use songforge_inference::contract::whisper::{Options, Segment, Skipped, Task, Transcript};

/// Where the audio has sound, per 10 ms mel frame.
///
/// A frame is silent when its RMS level is below −55 dBFS, or below 30 dB under the loudest
/// frame for recordings quieter than that, so a quiet recording is never taken for silence.
pub struct Silence {
    sound: Vec<bool>,
}

/// Samples per mel frame (10 ms at 16 kHz).
const FRAME_SAMPLES: usize = 160;

impl Silence {
    /// Measures `audio` (16 kHz mono).
    pub fn measure(audio: &[f32]) -> Self {
        let levels: Vec<f32> = audio
            .chunks(FRAME_SAMPLES)
            .map(|f| {
                let power = f.iter().map(|v| v * v).sum::<f32>() / f.len().max(1) as f32;
                10.0 * power.max(1e-20).log10()
            })
            .collect();
        let loudest = levels.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let threshold = (-55f32).min(loudest - 30.0);
        Self {
            sound: levels.iter().map(|&l| l >= threshold).collect(),
        }
    }

    /// The first frame with sound in `frames`, if any.
    pub fn first_sound(&self, frames: std::ops::Range<usize>) -> Option<usize> {
        let end = frames.end.min(self.sound.len());
        (frames.start.min(end)..end).find(|&f| self.sound[f])
    }

    /// Whether any frame between `start` and `end` seconds has sound.
    pub fn has_sound(&self, start: f64, end: f64) -> bool {
        let first = (start / FRAME_SECONDS).floor().max(0.0) as usize;
        let last = ((end / FRAME_SECONDS).ceil() as usize).max(first + 1);
        self.first_sound(first..last).is_some()
    }
}

/// Leading silence longer than this (1 s, the latest first timestamp Whisper may predict) is
/// skipped before a window is decoded, less [`SOUND_LEAD_FRAMES`].
const SKIP_LEADING_FRAMES: usize = 100;
/// Silence kept before the sound when leading silence is skipped (0.2 s).
const SOUND_LEAD_FRAMES: usize = 20;

struct Candidate {
    tokens: Vec<u32>,
    sum_logprob: f64,
}

struct WindowResult {
    tokens: Vec<u32>,
    avg_logprob: f64,
    no_speech_prob: f64,
    temperature: f32,
    compression_ratio: f64,
}

/// A transcription run over one audio clip.
pub struct Decoder<'a> {
    /// The catalog id the transcript names.
    pub model_id: &'a str,
    pub model: &'a Whisper,
    pub tokens: &'a WhisperTokens,
    pub suppress: &'a SuppressLists,
}

/// Text that compresses better than this (zlib) is a repetition loop: decode again warmer.
const COMPRESSION_RATIO_LIMIT: f64 = 2.4;

/// A window whose average token log-probability is under this is unlikely text: decode again
/// warmer, or (with a high no-speech probability) take it for no speech.
const LOG_PROB_LIMIT: f64 = -1.0;

/// faster-whisper's no-speech rule, one rule for both places it decides: a window is no
/// speech when its no-speech probability is over the client's threshold and its text unlikely.
/// Such a window is not decoded again warmer, and is left out of the transcript.
fn no_speech(no_speech_prob: f64, avg_logprob: f64, opts: &Options) -> bool {
    no_speech_prob > opts.no_speech_threshold && avg_logprob < LOG_PROB_LIMIT
}

/// How a result that fell short ranks against others: not a loop first, then log-prob.
fn fallback_rank(r: &WindowResult) -> (bool, f64) {
    (
        r.compression_ratio <= COMPRESSION_RATIO_LIMIT,
        r.avg_logprob,
    )
}

fn compression_ratio(text: &str) -> f64 {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = z.write_all(text.as_bytes());
    let compressed = z.finish().map(|v| v.len()).unwrap_or(1).max(1);
    text.len() as f64 / compressed as f64
}

/// The `k` largest values of `v` with their indices, largest first (one pass, no sort of `v`).
fn top_k(v: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (i, &x) in v.iter().enumerate() {
        if best.len() == k && best.last().is_none_or(|b| x <= b.1) {
            continue;
        }
        let at = best.partition_point(|b| b.1 >= x);
        best.insert(at, (i as u32, x));
        best.truncate(k);
    }
    best
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&x| (x - max).exp()).sum();
    let lse = max + sum.ln();
    logits.iter().map(|&x| x - lse).collect()
}

impl Decoder<'_> {
    /// Transcribes 16 kHz mono samples.
    pub fn run(&self, audio: &[f32], opts: &Options) -> Result<Transcript> {
        let t = self.tokens;
        let n_mels = self.model.config.n_mels;
        let (features, frames) = mel::log_mel(audio, n_mels);
        let content_frames = frames.saturating_sub(1);
        let duration = audio.len() as f64 / mel::SAMPLE_RATE as f64;
        let mut rng = StdRng::seed_from_u64(opts.seed);

        let mut all_tokens: Vec<u32> = Vec::new();
        if let Some(p) = opts
            .initial_prompt
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            all_tokens.extend(t.encode(p).map_err(candle_core::Error::Msg)?);
        }
        let mut prompt_reset_since = 0;
        let mut language: Option<(String, f64)> = match &opts.language {
            Some(code) => Some((code.clone(), 1.0)),
            None if !t.multilingual() => Some(("en".into(), 1.0)),
            None => None,
        };
        let mut segments = Vec::new();
        let mut skipped = Vec::new();
        let silence = opts.skip_silence.then(|| Silence::measure(audio));
        let mut seek = 0usize;
        while seek < content_frames {
            if let Some(silence) = &silence {
                match silence.first_sound(seek..content_frames) {
                    None => break,
                    Some(f) if f >= seek + SKIP_LEADING_FRAMES => {
                        seek = f - SOUND_LEAD_FRAMES;
                    }
                    Some(_) => {}
                }
            }
            let time_offset = seek as f64 * FRAME_SECONDS;
            let segment_size = WINDOW_FRAMES.min(content_frames - seek);
            let segment_duration = segment_size as f64 * FRAME_SECONDS;
            let mut window = vec![0f32; n_mels * WINDOW_FRAMES];
            for m in 0..n_mels {
                let row = &features[m * frames + seek..m * frames + seek + segment_size];
                window[m * WINDOW_FRAMES..m * WINDOW_FRAMES + segment_size].copy_from_slice(row);
            }
            let mel = Tensor::from_vec(window, (1, n_mels, WINDOW_FRAMES), &self.model.device)?;
            let t_enc = std::time::Instant::now();
            let encoded = self.model.encode(&mel)?;
            let cross = self.model.cross_cache(&encoded)?;
            let encode_ms = t_enc.elapsed().as_secs_f64() * 1e3;
            if language.is_none() {
                language = Some(self.detect_language(&cross)?);
            }
            let lang = language.as_ref().map(|l| l.0.as_str()).unwrap_or("en");
            let prompt = self.prompt(&all_tokens[prompt_reset_since..], lang, opts)?;
            let t_dec = std::time::Instant::now();
            let result = self.generate_with_fallback(&cross, &prompt, opts, &mut rng)?;
            tracing::debug!(
                seek,
                encode_ms,
                decode_ms = t_dec.elapsed().as_secs_f64() * 1e3,
                tokens = result.tokens.len(),
                temperature = result.temperature,
                "window decoded"
            );
            if no_speech(result.no_speech_prob, result.avg_logprob, opts) {
                // Listed, not dropped in silence: over music a sung window can look like
                // this, and the client can lower its odds with `no_speech_threshold`.
                let end = time_offset + segment_size as f64 * FRAME_SECONDS;
                skipped.push(Skipped {
                    start: round2(time_offset),
                    end: round2(end.min(duration.max(time_offset))),
                    text: self.tokens.decode(&result.tokens).trim().to_string(),
                    reason: format!(
                        "no speech heard (probability {:.2}, over no_speech_threshold {}) and the text unlikely (average log-probability {:.2})",
                        result.no_speech_prob, opts.no_speech_threshold, result.avg_logprob
                    ),
                });
                seek += segment_size;
                continue;
            }
            let tokens = &result.tokens;
            let ts = t.timestamp_begin;
            let mut pieces: Vec<(f64, f64, Vec<u32>)> = Vec::new();
            let single_ending = tokens.len() >= 2
                && tokens[tokens.len() - 2] < ts
                && tokens[tokens.len() - 1] >= ts;
            let consecutive: Vec<usize> = (1..tokens.len())
                .filter(|&i| tokens[i] >= ts && tokens[i - 1] >= ts)
                .collect();
            if opts.timestamps && !consecutive.is_empty() {
                let mut slices = consecutive.clone();
                if single_ending {
                    slices.push(tokens.len());
                }
                let mut last = 0;
                for &cut in &slices {
                    let s = &tokens[last..cut];
                    let start = time_offset + f64::from(s[0].saturating_sub(ts)) * TIME_PRECISION;
                    let end =
                        time_offset + f64::from(s[s.len() - 1].saturating_sub(ts)) * TIME_PRECISION;
                    pieces.push((start, end, s.to_vec()));
                    last = cut;
                }
                if single_ending {
                    seek += segment_size;
                } else {
                    let pos = tokens[last - 1].saturating_sub(ts) as usize;
                    seek += pos * 2;
                }
            } else {
                let mut d = segment_duration;
                if let Some(&last_ts) = tokens.iter().rev().find(|&&x| x >= ts)
                    && last_ts != ts
                {
                    d = f64::from(last_ts - ts) * TIME_PRECISION;
                }
                pieces.push((time_offset, time_offset + d, tokens.clone()));
                seek += segment_size;
            }
            for (start, end, toks) in pieces {
                let text = t.decode(&toks);
                if let Some(silence) = &silence
                    && !text.trim().is_empty()
                    && !silence.has_sound(start, end.min(duration))
                {
                    // Text over silence: kept out of the transcript and out of the next
                    // window's prompt, where it would be repeated.
                    skipped.push(Skipped {
                        start: round2(start),
                        end: round2(end.min(duration.max(start))),
                        text,
                        reason: "no sound in the segment's span".to_string(),
                    });
                    continue;
                }
                all_tokens.extend(toks.iter().copied());
                if text.trim().is_empty() || start == end && start >= duration {
                    continue;
                }
                segments.push(Segment {
                    start: round2(start),
                    end: round2(end.min(duration.max(start))),
                    text,
                    avg_logprob: result.avg_logprob,
                    no_speech_prob: result.no_speech_prob,
                    temperature: result.temperature,
                    compression_ratio: result.compression_ratio,
                });
            }
            if !opts.condition_on_previous_text || result.temperature > 0.5 {
                prompt_reset_since = all_tokens.len();
            }
        }
        let (language, language_probability) = language.unwrap_or(("en".into(), 1.0));
        let text = segments.iter().map(|s| s.text.as_str()).collect::<String>();
        Ok(Transcript {
            text: text.trim().to_string(),
            language,
            language_probability,
            duration,
            segments,
            skipped,
            model: self.model_id.to_string(),
        })
    }

    fn prompt(&self, previous: &[u32], lang: &str, opts: &Options) -> Result<Vec<u32>> {
        let t = self.tokens;
        let mut p = Vec::new();
        if !previous.is_empty() {
            p.push(t.sot_prev);
            let keep = self.model.config.text_ctx / 2 - 1;
            p.extend_from_slice(&previous[previous.len().saturating_sub(keep)..]);
        }
        p.push(t.sot);
        if t.multilingual() {
            let lang_id = t
                .languages
                .iter()
                .find(|(c, _)| *c == lang)
                .map(|(_, id)| *id)
                .ok_or_else(|| candle_core::Error::Msg(format!("unknown language `{lang}`")))?;
            p.push(lang_id);
            let task = match opts.task {
                Task::Transcribe => t.transcribe,
                Task::Translate => t.translate,
            };
            p.extend(task);
        }
        if !opts.timestamps {
            p.push(t.no_timestamps);
        }
        Ok(p)
    }

    fn detect_language(&self, cross: &CrossCache) -> Result<(String, f64)> {
        let t = self.tokens;
        let mut state = self.model.start(cross);
        let sot = Tensor::new(&[[t.sot]], &self.model.device)?;
        let hidden = self.model.decode(&sot, &mut state)?;
        let logits: Vec<f32> = self.model.logits(&hidden, 0)?.flatten_all()?.to_vec1()?;
        let scores: Vec<f32> = t
            .languages
            .iter()
            .map(|(_, id)| {
                logits
                    .get(*id as usize)
                    .copied()
                    .unwrap_or(f32::NEG_INFINITY)
            })
            .collect();
        let lp = log_softmax(&scores);
        let (best, p) = lp
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, p)| (i, f64::from(p.exp())))
            .unwrap_or((0, 1.0));
        Ok((t.languages[best].0.to_string(), p))
    }

    fn generate_with_fallback(
        &self,
        cross: &CrossCache,
        prompt: &[u32],
        opts: &Options,
        rng: &mut StdRng,
    ) -> Result<WindowResult> {
        let temps: Vec<f32> = match opts.temperature {
            Some(t) => vec![t],
            None => vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        };
        let mut best: Option<WindowResult> = None;
        for &temp in &temps {
            let (cand, no_speech_prob) = self.search(cross, prompt, opts, temp, rng)?;
            let text = self.tokens.decode(&cand.tokens);
            let ratio = compression_ratio(&text);
            let avg_logprob = cand.sum_logprob / (cand.tokens.len() + 1) as f64;
            let mut needs_fallback =
                ratio > COMPRESSION_RATIO_LIMIT || avg_logprob < LOG_PROB_LIMIT;
            if no_speech(no_speech_prob, avg_logprob, opts) {
                needs_fallback = false;
            }
            let result = WindowResult {
                tokens: cand.tokens,
                avg_logprob,
                no_speech_prob,
                temperature: temp,
                compression_ratio: ratio,
            };
            if !needs_fallback {
                return Ok(result);
            }
            // When every temperature falls short, the most likely result that is not a
            // repetition loop wins, as in faster-whisper: a loop ("S-I-N-T-O-N-T-O-N…") is
            // the most confident text of all, so the log-prob alone would pick it.
            if best
                .as_ref()
                .is_none_or(|b| fallback_rank(&result) > fallback_rank(b))
            {
                best = Some(result);
            }
        }
        best.ok_or_else(|| candle_core::Error::Msg("no temperature to decode with".into()))
    }

    /// Masks logits by Whisper's rules for a hypothesis that has generated `seq` so far.
    fn apply_rules(&self, logits: &mut [f32], seq: &[u32], timestamps: bool) {
        let t = self.tokens;
        let ninf = f32::NEG_INFINITY;
        let mut kill = |id: u32| {
            if let Some(v) = logits.get_mut(id as usize) {
                *v = ninf;
            }
        };
        if seq.is_empty() {
            self.suppress.at_begin.iter().for_each(|&i| kill(i));
        }
        self.suppress.always.iter().for_each(|&i| kill(i));
        for id in [
            t.transcribe,
            t.translate,
            Some(t.sot),
            Some(t.sot_prev),
            t.sot_lm,
            t.no_speech,
        ]
        .into_iter()
        .flatten()
        {
            kill(id);
        }
        kill(t.no_timestamps);
        let ts = t.timestamp_begin as usize;
        let len = logits.len();
        if ts >= len {
            return;
        }
        if !timestamps {
            logits[ts..].fill(ninf);
            return;
        }
        let last_ts = seq.last().is_some_and(|&x| x as usize >= ts);
        let penult_ts = seq.len() < 2 || seq[seq.len() - 2] as usize >= ts;
        if last_ts {
            if penult_ts {
                logits[ts..].fill(ninf);
            } else {
                logits[..t.eot as usize].fill(ninf);
            }
        }
        if let Some(&last) = seq.iter().rev().find(|&&x| x as usize >= ts) {
            let upto = if last_ts && !penult_ts {
                last
            } else {
                last + 1
            } as usize;
            logits[ts..upto.min(len)].fill(ninf);
        }
        if seq.is_empty() {
            logits[..ts].fill(ninf);
            let last_allowed = ts + MAX_INITIAL_TIMESTAMP as usize;
            if last_allowed + 1 < len {
                logits[last_allowed + 1..].fill(ninf);
            }
        }
        // Timestamps' total probability against the likeliest text token. Both sides of the
        // comparison would subtract the same log-normaliser, so the logits are compared as
        // they are, without a softmax over the whole vocabulary.
        let ts_mass = {
            let m = logits[ts..]
                .iter()
                .cloned()
                .fold(f32::NEG_INFINITY, f32::max);
            if m == f32::NEG_INFINITY {
                m
            } else {
                m + logits[ts..]
                    .iter()
                    .map(|&x| (x - m).exp())
                    .sum::<f32>()
                    .ln()
            }
        };
        let max_text = logits[..ts]
            .iter()
            .cloned()
            .fold(f32::NEG_INFINITY, f32::max);
        if ts_mass > max_text {
            logits[..ts].fill(ninf);
        }
    }

    /// One decoding pass over a window: beam search at temperature 0, else `best_of` samples.
    /// Returns the best candidate and the no-speech probability at the start token.
    fn search(
        &self,
        cross: &CrossCache,
        prompt: &[u32],
        opts: &Options,
        temp: f32,
        rng: &mut StdRng,
    ) -> Result<(Candidate, f64)> {
        let t = self.tokens;
        let m = self.model;
        let mut state = m.start(cross);
        let input = Tensor::new(prompt, &m.device)?.unsqueeze(0)?;
        let hidden = m.decode(&input, &mut state)?;
        let sot_index = prompt.iter().position(|&x| x == t.sot).unwrap_or(0);
        let no_speech_prob = match t.no_speech {
            Some(ns) => {
                let l: Vec<f32> = m.logits(&hidden, sot_index)?.flatten_all()?.to_vec1()?;
                let lp = log_softmax(&l);
                f64::from(
                    lp.get(ns as usize)
                        .copied()
                        .unwrap_or(f32::NEG_INFINITY)
                        .exp(),
                )
            }
            None => 0.0,
        };
        let mut logits = m.logits(&hidden, prompt.len() - 1)?.to_vec2::<f32>()?;
        let max_new = MAX_NEW_TOKENS.min(m.config.text_ctx.saturating_sub(prompt.len()));
        let sampling = temp > 0.0;
        let width = if sampling {
            opts.best_of.max(1)
        } else {
            opts.beam_size.max(1)
        };
        // Live hypotheses (tokens, sum of log-probs); one row each in the decoder state.
        let mut live: Vec<Candidate> = vec![Candidate {
            tokens: Vec::new(),
            sum_logprob: 0.0,
        }];
        let mut finished: Vec<Candidate> = Vec::new();
        if sampling && width > 1 {
            let rows = vec![0u32; width];
            state.select(&rows)?;
            logits = vec![logits[0].clone(); width];
            live = (0..width)
                .map(|_| Candidate {
                    tokens: Vec::new(),
                    sum_logprob: 0.0,
                })
                .collect();
        }
        for _ in 0..max_new {
            let mut next: Vec<(u32, Candidate)> = Vec::new();
            if sampling {
                for (row, (hyp, l)) in live.iter().zip(logits.iter_mut()).enumerate() {
                    self.apply_rules(l, &hyp.tokens, opts.timestamps);
                    let lp = log_softmax(l);
                    let scaled: Vec<f32> = l.iter().map(|&x| x / temp).collect();
                    let probs = log_softmax(&scaled);
                    let r: f32 = rng.random();
                    let mut acc = 0f32;
                    let mut tok = probs.iter().rposition(|p| p.is_finite()).unwrap_or(0) as u32;
                    for (i, p) in probs.iter().enumerate() {
                        acc += p.exp();
                        if acc >= r {
                            tok = i as u32;
                            break;
                        }
                    }
                    let mut c = Candidate {
                        tokens: hyp.tokens.clone(),
                        sum_logprob: hyp.sum_logprob + f64::from(lp[tok as usize]),
                    };
                    if tok == t.eot {
                        finished.push(c);
                    } else {
                        c.tokens.push(tok);
                        next.push((row as u32, c));
                    }
                }
            } else {
                // CTranslate2's beam step: the best 2·width continuations over all beams; of
                // the first `width`, an end of text finishes its hypothesis and its slot goes to
                // the next candidate beyond `width` that does not end. Ends ranked below
                // `width` are dropped, so a short, unlikely ending never stops the search.
                let candidates = 2 * width;
                let mut scored: Vec<(f64, u32, u32)> = Vec::new();
                for (row, (hyp, l)) in live.iter().zip(logits.iter_mut()).enumerate() {
                    self.apply_rules(l, &hyp.tokens, opts.timestamps);
                    for (tok, lp) in top_k(&log_softmax(l), candidates) {
                        let s = hyp.sum_logprob + f64::from(lp);
                        if s.is_finite() {
                            scored.push((s, row as u32, tok));
                        }
                    }
                }
                scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                scored.truncate(candidates);
                let mut spare = width;
                for k in 0..width.min(scored.len()) {
                    let (s, row, tok) = scored[k];
                    let (s, row, tok) = if tok == t.eot {
                        finished.push(Candidate {
                            tokens: live[row as usize].tokens.clone(),
                            sum_logprob: s,
                        });
                        match scored[spare.min(scored.len())..]
                            .iter()
                            .position(|c| c.2 != t.eot)
                        {
                            Some(i) => {
                                let c = scored[spare + i];
                                spare += i + 1;
                                c
                            }
                            None => {
                                spare = scored.len();
                                continue;
                            }
                        }
                    } else {
                        (s, row, tok)
                    };
                    let mut tokens = live[row as usize].tokens.clone();
                    tokens.push(tok);
                    next.push((
                        row,
                        Candidate {
                            tokens,
                            sum_logprob: s,
                        },
                    ));
                }
            }
            let done = if sampling {
                next.is_empty()
            } else {
                finished.len() >= width || next.is_empty()
            };
            if done {
                live.clear();
                break;
            }
            let rows: Vec<u32> = next.iter().map(|(r, _)| *r).collect();
            let toks: Vec<u32> = next
                .iter()
                .map(|(_, c)| *c.tokens.last().unwrap_or(&0))
                .collect();
            live = next.into_iter().map(|(_, c)| c).collect();
            state.select(&rows)?;
            let input = Tensor::new(toks.as_slice(), &m.device)?.unsqueeze(1)?;
            let hidden = m.decode(&input, &mut state)?;
            logits = m.logits(&hidden, 0)?.to_vec2::<f32>()?;
        }
        finished.extend(live);
        // Rank by mean log-probability (length penalty 1), as CTranslate2 does.
        let best = finished
            .into_iter()
            .max_by(|a, b| {
                let sa = a.sum_logprob / (a.tokens.len().max(1)) as f64;
                let sb = b.sum_logprob / (b.tokens.len().max(1)) as f64;
                sa.total_cmp(&sb)
            })
            .unwrap_or(Candidate {
                tokens: Vec::new(),
                sum_logprob: 0.0,
            });
        Ok((best, no_speech_prob))
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repetition_loop_loses_the_fallback_to_any_other_text() {
        let result = |text: &str, avg_logprob: f64| WindowResult {
            tokens: Vec::new(),
            avg_logprob,
            no_speech_prob: 0.0,
            temperature: 1.0,
            compression_ratio: compression_ratio(text),
        };
        let looped = result(&"S-I-N-T-O-N-T-O-N-".repeat(20), -0.2);
        let sung = result(
            "as I step out into the sun, as I step into the old house",
            -1.4,
        );
        assert!(looped.compression_ratio > COMPRESSION_RATIO_LIMIT);
        assert!(sung.compression_ratio <= COMPRESSION_RATIO_LIMIT);
        assert!(fallback_rank(&sung) > fallback_rank(&looped));
        // Between two texts that are not loops, the more likely one wins.
        let likelier = result("the sun sets low with her last rays", -1.1);
        assert!(fallback_rank(&likelier) > fallback_rank(&sung));
    }

    #[test]
    fn silence_is_found_and_quiet_recordings_are_not_silence() {
        let tone = |seconds: f64, db: f32| -> Vec<f32> {
            let amp = 10f32.powf(db / 20.0) * std::f32::consts::SQRT_2;
            (0..(seconds * 16_000.0) as usize)
                .map(|i| amp * (i as f32 * 0.2).sin())
                .collect()
        };
        // 2 s of silence, 1 s at -20 dBFS, 2 s of a -70 dBFS hum, 1 s of silence.
        let mut audio = vec![0.0; 32_000];
        audio.extend(tone(1.0, -20.0));
        audio.extend(tone(2.0, -70.0));
        audio.extend(vec![0.0; 16_000]);
        let s = Silence::measure(&audio);
        assert_eq!(s.first_sound(0..600), Some(200));
        assert!(!s.has_sound(0.0, 1.99));
        assert!(s.has_sound(1.5, 2.05));
        assert!(
            !s.has_sound(3.1, 4.9),
            "a -70 dBFS hum beside -20 dBFS speech is silence"
        );
        assert!(!s.has_sound(5.05, 6.0));
        // Alone, the same hum is the loudest thing in the recording, so it counts as sound.
        let quiet = Silence::measure(&tone(2.0, -70.0));
        assert!(quiet.has_sound(0.5, 1.0));
    }

    #[test]
    fn compression_ratio_flags_repetition() {
        let normal = "The quick brown fox jumps over the lazy dog near the river bank.";
        let looped = "I love you. ".repeat(30);
        assert!(compression_ratio(normal) < 2.4);
        assert!(compression_ratio(&looped) > 2.4);
    }

    #[test]
    fn options_default_and_reject_unknown_fields() {
        let o: Options = serde_json::from_str(r#"{"task":"translate","beam_size":1}"#).unwrap();
        assert_eq!(o.task, Task::Translate);
        assert_eq!(o.beam_size, 1);
        assert!(o.timestamps);
        assert!(serde_json::from_str::<Options>(r#"{"beem":1}"#).is_err());
    }
}
