//! Composition: the form placed on a bar grid, a chord per bar, and every part's notes.

use crate::style::{self, BassStyle, CompStyle, Groove, Style};
use crate::theory::{Chord, Key, Mode, Quality, progression};
use serde::Serialize;
use songforge_genre::Genre;
use songforge_prosody::Dictionary;
use songforge_song::form::{FormSource, SectionKind, read_form};
use songforge_song::plan::{FitError, LinePlan, SongPlan, Tempo, plan_song};
use std::collections::HashMap;

/// MIDI ticks per quarter note.
pub const TICKS_PER_BEAT: u32 = 480;
/// One 16th note.
pub const STEP: u32 = TICKS_PER_BEAT / 4;
/// One 4/4 bar.
pub const BAR: u32 = TICKS_PER_BEAT * 4;
pub use songforge_song::plan::{MAX_SONG_S, TAIL_BARS};

/// The four stems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Drum kit (GM channel 10).
    Drums,
    /// Bass.
    Bass,
    /// Chords: comping instrument and pad.
    Harmony,
    /// Counter-melody.
    Melody,
}

impl Part {
    /// Every part, in stem order.
    pub const ALL: [Part; 4] = [Part::Drums, Part::Bass, Part::Harmony, Part::Melody];

    /// The stem's name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Drums => "drums",
            Part::Bass => "bass",
            Part::Harmony => "harmony",
            Part::Melody => "melody",
        }
    }
}

/// One note on the tick grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note {
    /// The stem it belongs to.
    pub part: Part,
    /// MIDI channel, 0-based (9 = drums).
    pub channel: u8,
    /// MIDI key.
    pub key: u8,
    /// MIDI velocity, 1..=127.
    pub velocity: u8,
    /// Start, ticks.
    pub start: u32,
    /// Length, ticks (> 0).
    pub duration: u32,
}

/// A MIDI channel and the GM program on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Channel {
    /// Stem.
    pub part: Part,
    /// MIDI channel, 0-based.
    pub channel: u8,
    /// GM program, 0-based (ignored on the drum channel).
    pub program: u8,
}

/// A section placed on the bar grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacedSection {
    /// `Verse 1`, `Chorus`, `Intro`…
    pub name: String,
    /// Kind.
    pub kind: SectionKind,
    /// First bar, 0-based.
    pub start_bar: u32,
    /// Length in bars.
    pub bars: u32,
    /// Start time, seconds.
    pub start_s: f64,
    /// Sung lines (0: instrumental).
    pub lines: usize,
    /// The lyric section sung here (index into the lyrics' sections); absent: instrumental.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lyric_section: Option<usize>,
    /// Where each sung line falls: the vocal sings exactly these bars.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sung_lines: Vec<LinePlan>,
}

/// A chord change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChordAt {
    /// Bar, 0-based.
    pub bar: u32,
    /// Beat in the bar, 1-based.
    pub beat: u32,
    /// Chord symbol (`Am`, `Fmaj7`).
    pub symbol: String,
    /// The chord.
    #[serde(skip)]
    pub chord: Chord,
}

/// What the arranger is asked for; every field already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Genre preset.
    pub genre: Genre,
    /// Tempo override.
    pub bpm: Option<u32>,
    /// Key override.
    pub key: Option<Key>,
    /// Target length, seconds.
    pub duration_s: Option<f64>,
    /// Seed for every random choice.
    pub seed: u64,
}

/// A composed song.
#[derive(Debug, Clone)]
pub struct Arrangement {
    /// Genre preset.
    pub genre: Genre,
    /// Tempo.
    pub bpm: u32,
    /// Key.
    pub key: Key,
    /// Always 4/4 for now: every preset groove is written in it.
    pub time_signature: [u8; 2],
    /// Seed used.
    pub seed: u64,
    /// Where the form came from.
    pub form_source: FormSource,
    /// Sections in order.
    pub sections: Vec<PlacedSection>,
    /// One chord per bar.
    pub chords: Vec<ChordAt>,
    /// Every note, sorted by start.
    pub notes: Vec<Note>,
    /// Channels and their programs.
    pub channels: Vec<Channel>,
    /// Length in bars (without the ring-out).
    pub bars: u32,
    /// Swing applied to off-beats (0..1/3), for the record.
    pub swing: f32,
}

impl Arrangement {
    /// Seconds per bar.
    pub fn bar_seconds(&self) -> f64 {
        240.0 / f64::from(self.bpm)
    }

    /// Seconds per tick.
    pub fn tick_seconds(&self) -> f64 {
        60.0 / f64::from(self.bpm) / f64::from(TICKS_PER_BEAT)
    }

    /// Length of the audio: every bar plus the ring-out.
    pub fn duration_s(&self) -> f64 {
        (f64::from(self.bars) + TAIL_BARS) * self.bar_seconds()
    }
}

pub use songforge_rng::Rng;

/// The song plan's sections with their start times.
fn place_sections(song: &SongPlan) -> Vec<PlacedSection> {
    let bar_s = song.bar_seconds();
    song.sections
        .iter()
        .map(|s| PlacedSection {
            name: s.name.clone(),
            kind: s.kind,
            start_bar: s.start_bar,
            bars: s.bars,
            start_s: (f64::from(s.start_bar) * bar_s * 1000.0).round() / 1000.0,
            lines: s.lines.len(),
            lyric_section: s.lyric_section,
            sung_lines: s.lines.clone(),
        })
        .collect()
}

/// The song plan for `lyrics` under `plan`: the form read from the lyrics, every sung line
/// on the bar grid, the tempo within the genre's range, fitted to `duration_s` when given.
pub fn plan_for(
    lyrics: &str,
    plan: &Plan,
    dict: &Dictionary,
) -> Result<(SongPlan, FormSource), FitError> {
    let style = Style::for_genre(plan.genre);
    let tempo = plan.bpm.map_or(Tempo::around(style.bpm), Tempo::fixed);
    let (sections, form_source) = read_form(lyrics);
    Ok((
        plan_song(&sections, dict, tempo, plan.duration_s)?,
        form_source,
    ))
}

/// Composes a whole song for `lyrics` under `plan`; `dict` counts the syllables that decide
/// each line's bars.
pub fn arrange(lyrics: &str, plan: &Plan, dict: &Dictionary) -> Result<Arrangement, FitError> {
    let (song, form_source) = plan_for(lyrics, plan, dict)?;
    Ok(arrange_plan(&song, form_source, plan))
}

/// Composes every part over a song plan.
pub fn arrange_plan(song: &SongPlan, form_source: FormSource, plan: &Plan) -> Arrangement {
    let style = Style::for_genre(plan.genre);
    let bpm = song.bpm;
    let key = plan.key.unwrap_or(style.key);
    let placed = place_sections(song);
    let bars = placed.iter().map(|s| s.bars).sum();
    let mut c = Composer {
        style,
        key,
        rng: Rng::new(plan.seed),
        notes: Vec::new(),
        chords: Vec::new(),
        voicing: Vec::new(),
        motifs: HashMap::new(),
        lead_pitch: 74,
    };
    for (i, s) in placed.iter().enumerate() {
        c.section(s, placed.get(i + 1).map(|n| n.kind), i == placed.len() - 1);
    }
    let mut notes = c.notes;
    notes.sort_by_key(|n| (n.start, n.channel, n.key));
    let mut channels = vec![
        Channel {
            part: Part::Drums,
            channel: 9,
            program: 0,
        },
        Channel {
            part: Part::Bass,
            channel: 0,
            program: style.bass.1,
        },
        Channel {
            part: Part::Harmony,
            channel: 1,
            program: style.comp.1,
        },
        Channel {
            part: Part::Melody,
            channel: 3,
            program: style.lead,
        },
    ];
    if let Some(pad) = style.pad {
        channels.insert(
            3,
            Channel {
                part: Part::Harmony,
                channel: 2,
                program: pad,
            },
        );
    }
    Arrangement {
        genre: plan.genre,
        bpm,
        key,
        time_signature: [4, 4],
        seed: plan.seed,
        form_source,
        sections: placed,
        chords: c.chords,
        notes,
        channels,
        bars,
        swing: style.swing,
    }
}

/// A two-bar figure: (start step 0..32, length in steps, scale steps from the last note).
type Motif = Vec<(u32, u32, i32)>;

struct Composer {
    style: Style,
    key: Key,
    rng: Rng,
    notes: Vec<Note>,
    chords: Vec<ChordAt>,
    /// The last harmony voicing, for voice leading.
    voicing: Vec<u8>,
    /// One motif per section kind, so repeats of a chorus play the same figure.
    motifs: HashMap<SectionKind, Motif>,
    /// Where the counter-melody last was.
    lead_pitch: u8,
}

const CH_BASS: u8 = 0;
const CH_COMP: u8 = 1;
const CH_PAD: u8 = 2;
const CH_LEAD: u8 = 3;
const CH_DRUMS: u8 = 9;

impl Composer {
    fn push(&mut self, part: Part, channel: u8, key: u8, velocity: f32, start: u32, duration: u32) {
        let jitter = self.rng.below(7) as f32 - 3.0;
        let velocity = (velocity + jitter).round().clamp(1.0, 127.0) as u8;
        self.notes.push(Note {
            part,
            channel,
            key: key.min(127),
            velocity,
            start,
            duration: duration.max(1),
        });
    }

    /// Swing delay of a 16th step within its beat.
    fn swing(&self, step: u32) -> u32 {
        let s = self.style.swing;
        match step % 4 {
            2 => (s * 2.0 * STEP as f32) as u32,
            1 | 3 => (s * STEP as f32) as u32,
            _ => 0,
        }
    }

    fn tonic_chord(&self) -> Chord {
        Chord {
            root: 0,
            quality: match self.key.mode {
                Mode::Major => Quality::Major,
                Mode::Minor => Quality::Minor,
            },
        }
    }

    fn section(&mut self, s: &PlacedSection, next: Option<SectionKind>, last: bool) {
        let prog = progression(self.style.progression_for(s.kind, self.key.mode));
        let chord_at = |b: u32| prog[(b as usize) % prog.len()];
        for b in 0..s.bars {
            let bar = s.start_bar + b;
            let t0 = bar * BAR;
            let final_bar = last && b + 1 == s.bars;
            let chord = if final_bar {
                self.tonic_chord()
            } else {
                chord_at(b)
            };
            let next_chord = if b + 1 < s.bars {
                chord_at(b + 1)
            } else {
                // The next section starts on its own first chord; approach its root.
                next.map(|k| progression(self.style.progression_for(k, self.key.mode))[0])
                    .unwrap_or_else(|| self.tonic_chord())
            };
            self.chords.push(ChordAt {
                bar,
                beat: 1,
                symbol: chord.symbol(self.key),
                chord,
            });
            let energy = s.kind.energy();
            if final_bar {
                self.ending(t0, chord);
                continue;
            }
            let fill = b + 1 == s.bars && next.is_some();
            let big_fill = fill && next.is_some_and(SectionKind::lifts);
            let crash =
                b == 0 && s.start_bar > 0 && (s.kind.lifts() || s.kind == SectionKind::Outro);
            self.drums(t0, s.kind, energy, fill, big_fill, crash);
            self.bass(t0, s.kind, energy, chord, next_chord);
            self.harmony(t0, s.kind, energy, chord);
            self.melody(t0, s, b, chord, next_chord);
        }
    }

    fn ending(&mut self, t0: u32, chord: Chord) {
        self.push(Part::Drums, CH_DRUMS, style::KICK, 110.0, t0, STEP);
        self.push(Part::Drums, CH_DRUMS, style::CRASH, 105.0, t0, BAR);
        let root = bass_note(chord.root_pc(self.key));
        self.push(Part::Bass, CH_BASS, root, 100.0, t0, BAR);
        let v = self.voice_lead(chord);
        for k in v {
            self.push(Part::Harmony, CH_COMP, k, 80.0, t0, BAR);
        }
        let tonic = nearest_pc(self.lead_pitch, self.key.tonic, 65, 86);
        self.push(Part::Melody, CH_LEAD, tonic, 70.0, t0, BAR);
    }

    fn drums(
        &mut self,
        t0: u32,
        kind: SectionKind,
        energy: f32,
        fill: bool,
        big_fill: bool,
        crash: bool,
    ) {
        let groove = self.groove(kind);
        let fill_from = if big_fill {
            8
        } else if fill {
            12
        } else {
            16
        };
        let scale = 0.8 + 0.2 * energy;
        for &(key, grid) in groove.voices {
            for (step, c) in grid.bytes().enumerate() {
                let step = step as u32;
                let vel = match c {
                    b'X' => 118.0,
                    b'x' => 100.0,
                    b'o' => 76.0,
                    b'g' => 48.0,
                    _ => continue,
                };
                // The fill replaces snare and hats; the kick keeps the downbeat of its half.
                if step >= fill_from && !(key == style::KICK && step.is_multiple_of(8)) {
                    continue;
                }
                let at = t0 + step * STEP + self.swing(step);
                self.push(Part::Drums, CH_DRUMS, key, vel * scale, at, STEP);
            }
        }
        if crash {
            self.push(Part::Drums, CH_DRUMS, style::CRASH, 108.0, t0, BAR);
        }
        for step in fill_from..16 {
            let at = t0 + step * STEP;
            let rise = (step - fill_from) as f32 / (16 - fill_from) as f32;
            let key = if big_fill && step % 2 == 0 {
                style::TOMS[((step - 8) / 2) as usize % 4]
            } else {
                style::SNARE
            };
            self.push(
                Part::Drums,
                CH_DRUMS,
                key,
                (70.0 + 45.0 * rise) * scale,
                at,
                STEP,
            );
        }
    }

    fn bass(&mut self, t0: u32, kind: SectionKind, energy: f32, chord: Chord, next: Chord) {
        let root = bass_note(chord.root_pc(self.key));
        let next_root = bass_note(next.root_pc(self.key));
        let fifth = if root + 7 > 45 { root - 5 } else { root + 7 };
        // Into the next chord: a scale step (the walking line makes its own chromatic one), the
        // fifth when the chord does not change.
        let approach = if next_root == root {
            fifth
        } else {
            scale_neighbour(self.key, next_root, next_root < root)
        };
        let vel = 92.0 + 12.0 * energy;
        let sparse = matches!(kind, SectionKind::Intro | SectionKind::Outro);
        match self.style.bass.0 {
            _ if sparse => {
                self.push(Part::Bass, CH_BASS, root, vel, t0, 2 * TICKS_PER_BEAT - 20);
                self.push(
                    Part::Bass,
                    CH_BASS,
                    fifth,
                    vel - 8.0,
                    t0 + 2 * TICKS_PER_BEAT,
                    2 * TICKS_PER_BEAT - 20,
                );
            }
            BassStyle::Eighths => {
                for i in 0..8 {
                    let key = if i == 7 && next_root != root {
                        approach
                    } else {
                        root
                    };
                    let accent = if i % 2 == 0 { 0.0 } else { -12.0 };
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        key,
                        vel + accent,
                        t0 + i * 2 * STEP,
                        2 * STEP - 24,
                    );
                }
            }
            BassStyle::RootFifth => {
                self.push(Part::Bass, CH_BASS, root, vel, t0, 2 * TICKS_PER_BEAT - 30);
                self.push(
                    Part::Bass,
                    CH_BASS,
                    fifth,
                    vel - 6.0,
                    t0 + 2 * TICKS_PER_BEAT,
                    TICKS_PER_BEAT + 2 * STEP,
                );
                if next_root != root {
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        approach,
                        vel - 10.0,
                        t0 + 14 * STEP,
                        2 * STEP - 20,
                    );
                }
            }
            BassStyle::OffbeatOctaves => {
                for (i, step) in [2u32, 6, 10, 14].into_iter().enumerate() {
                    let key = if i % 2 == 1 { root + 12 } else { root };
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        key,
                        vel,
                        t0 + step * STEP,
                        2 * STEP - 30,
                    );
                }
                if energy >= 1.0 {
                    self.push(Part::Bass, CH_BASS, root, vel - 10.0, t0, STEP);
                }
            }
            BassStyle::FollowKick => {
                let kicks: Vec<u32> = self.kick_steps(kind);
                for (i, &step) in kicks.iter().enumerate() {
                    let end = kicks.get(i + 1).copied().unwrap_or(16);
                    let key = if step >= 12 && i > 0 { root + 12 } else { root };
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        key,
                        vel,
                        t0 + step * STEP + self.swing(step),
                        (end - step) * STEP - 20,
                    );
                }
            }
            BassStyle::Walking => {
                // Root, two other chord tones, then a chromatic step into the next root
                // (taken in the octave nearest the third beat).
                let iv = chord.quality.intervals();
                let (third, five) = (root + iv[1], root + iv[2]);
                let top = iv.get(3).map_or(root + 12, |s| root + s);
                let second = self.rng.pick(&[third, five]);
                let third_beat = if second == third {
                    self.rng.pick(&[five, top])
                } else {
                    self.rng.pick(&[top, third])
                };
                let mut target = next_root;
                while target + 6 < third_beat {
                    target += 12;
                }
                let step_in = if target >= third_beat {
                    target - 1
                } else {
                    target + 1
                };
                let line = [root, second, third_beat, step_in];
                for (i, k) in line.into_iter().enumerate() {
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        k,
                        vel - (i % 2) as f32 * 8.0,
                        t0 + i as u32 * TICKS_PER_BEAT,
                        TICKS_PER_BEAT - 30,
                    );
                }
            }
            BassStyle::Halves => {
                self.push(Part::Bass, CH_BASS, root, vel, t0, 2 * TICKS_PER_BEAT - 20);
                let second = if energy >= 1.0 { fifth } else { root };
                self.push(
                    Part::Bass,
                    CH_BASS,
                    second,
                    vel - 8.0,
                    t0 + 2 * TICKS_PER_BEAT,
                    2 * TICKS_PER_BEAT - 20,
                );
            }
            BassStyle::Syncopated => {
                let figure = [
                    (0u32, 6u32, root),
                    (7, 2, root),
                    (10, 3, root + 12),
                    (14, 2, approach),
                ];
                for (step, len, key) in figure {
                    self.push(
                        Part::Bass,
                        CH_BASS,
                        key,
                        vel,
                        t0 + step * STEP + self.swing(step),
                        len * STEP - 20,
                    );
                }
            }
        }
    }

    /// The groove a section plays.
    fn groove(&self, kind: SectionKind) -> Groove {
        if kind.lifts() {
            self.style.chorus_groove
        } else {
            self.style.groove
        }
    }

    fn kick_steps(&self, kind: SectionKind) -> Vec<u32> {
        self.groove(kind)
            .voices
            .iter()
            .find(|(k, _)| *k == style::KICK)
            .map(|(_, grid)| {
                grid.bytes()
                    .enumerate()
                    .filter(|(_, c)| *c != b'.')
                    .map(|(i, _)| i as u32)
                    .collect()
            })
            .filter(|v: &Vec<u32>| !v.is_empty())
            .unwrap_or_else(|| vec![0, 8])
    }

    /// The chord voiced in E3..E5 as close as possible to the last voicing.
    fn voice_lead(&mut self, chord: Chord) -> Vec<u8> {
        let pcs = chord.pitch_classes(self.key);
        let mut best: Option<(i32, Vec<u8>)> = None;
        // Every inversion in close position, with its lowest note anywhere in E3..E4.
        for inv in 0..pcs.len() {
            for low in 52u8..64 {
                if low % 12 != pcs[inv] {
                    continue;
                }
                let mut v = vec![low];
                for j in 1..pcs.len() {
                    let pc = pcs[(inv + j) % pcs.len()];
                    let prev = *v.last().unwrap_or(&low);
                    let mut k = prev + 1;
                    while k % 12 != pc {
                        k += 1;
                    }
                    v.push(k);
                }
                let cost = if self.voicing.is_empty() {
                    // Start near the middle of the range.
                    (i32::from(v[0]) - 57).abs()
                } else {
                    v.iter()
                        .map(|&n| {
                            self.voicing
                                .iter()
                                .map(|&p| (i32::from(n) - i32::from(p)).abs())
                                .min()
                                .unwrap_or(0)
                        })
                        .sum::<i32>()
                        + (i32::from(v[0]) - i32::from(self.voicing[0])).abs() / 2
                };
                if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                    best = Some((cost, v));
                }
            }
        }
        let v = best.map(|(_, v)| v).unwrap_or_default();
        self.voicing = v.clone();
        v
    }

    fn harmony(&mut self, t0: u32, kind: SectionKind, energy: f32, chord: Chord) {
        let mut voicing = self.voice_lead(chord);
        let lift = kind.lifts();
        if lift {
            // Choruses open up: the root doubled above the top voice.
            let top = *voicing.last().unwrap_or(&64);
            let root_pc = chord.root_pc(self.key);
            let mut k = top + 1;
            while k % 12 != root_pc {
                k += 1;
            }
            if k <= 84 {
                voicing.push(k);
            }
        }
        let vel = 70.0 + 24.0 * energy;
        let root_low = {
            let pc = chord.root_pc(self.key);
            40 + (pc + 12 - 4) % 12
        };
        let hits: Vec<(u32, u32, f32)> = match self.style.comp.0 {
            _ if kind == SectionKind::Intro => vec![(0, 16, 0.0)],
            CompStyle::Quarters => vec![(0, 4, 0.0), (4, 4, -14.0), (8, 4, -6.0), (12, 4, -14.0)],
            CompStyle::Strum => vec![
                (0, 4, 0.0),
                (4, 2, -10.0),
                (6, 4, -16.0),
                (10, 2, -16.0),
                (12, 2, -6.0),
                (14, 2, -16.0),
            ],
            CompStyle::PowerEighths => (0..8)
                .map(|i| (i * 2, 2, if i % 2 == 0 { 0.0 } else { -10.0 }))
                .collect(),
            CompStyle::Sustain => vec![(0, 16, 0.0)],
            CompStyle::Push => vec![(0, 6, 0.0), (6, 10, -8.0)],
            CompStyle::Charleston => {
                let mut h = vec![(0, 3, 0.0), (6, 2, -6.0)];
                if lift {
                    h.push((10, 2, -10.0));
                }
                h
            }
            CompStyle::Arpeggio => (0..8)
                .map(|i| (i * 2, 4, if i == 0 { 0.0 } else { -12.0 }))
                .collect(),
            CompStyle::OffbeatStabs => [2u32, 6, 10, 14].map(|s| (s, 1, 0.0)).to_vec(),
        };
        for (i, (step, len, accent)) in hits.into_iter().enumerate() {
            let at = t0 + step * STEP + self.swing(step);
            let dur = len * STEP - if len >= 16 { 0 } else { 30 };
            match self.style.comp.0 {
                CompStyle::PowerEighths if kind != SectionKind::Intro => {
                    for k in [root_low, root_low + 7, root_low + 12] {
                        let d = if lift { dur } else { dur * 2 / 3 };
                        self.push(Part::Harmony, CH_COMP, k, vel + accent, at, d);
                    }
                }
                CompStyle::Arpeggio if kind != SectionKind::Intro => {
                    let cycle: Vec<u8> = std::iter::once(root_low)
                        .chain(voicing.iter().copied())
                        .chain(
                            voicing
                                .iter()
                                .rev()
                                .skip(1)
                                .take(voicing.len().saturating_sub(2))
                                .copied(),
                        )
                        .collect();
                    let k = cycle[i % cycle.len()];
                    self.push(Part::Harmony, CH_COMP, k, vel + accent, at, dur);
                }
                CompStyle::Strum if kind != SectionKind::Intro => {
                    // Down-strokes low to high, up-strokes high to low, 12 ticks apart.
                    let up = accent <= -16.0;
                    let order: Vec<u8> = if up {
                        voicing.iter().rev().copied().collect()
                    } else {
                        voicing.clone()
                    };
                    for (j, k) in order.into_iter().enumerate() {
                        self.push(
                            Part::Harmony,
                            CH_COMP,
                            k,
                            vel + accent,
                            at + j as u32 * 12,
                            dur - (j as u32 * 12).min(dur / 2),
                        );
                    }
                }
                _ => {
                    for &k in &voicing {
                        self.push(Part::Harmony, CH_COMP, k, vel + accent, at, dur);
                    }
                }
            }
        }
        if (lift || kind == SectionKind::Bridge) && self.style.pad.is_some() {
            for &k in &voicing {
                self.push(Part::Harmony, CH_PAD, k, 58.0 + 10.0 * energy, t0, BAR);
            }
        }
    }

    fn motif(&mut self, kind: SectionKind) -> Motif {
        if let Some(m) = self.motifs.get(&kind) {
            return m.clone();
        }
        const CELLS: [&[u32]; 6] = [
            &[0, 4, 8, 12],
            &[0, 2, 4, 8, 12],
            &[0, 3, 6, 8, 12],
            &[0, 4, 6, 8, 10, 12],
            &[0, 6, 8, 12, 14],
            &[0, 2, 4, 6, 8],
        ];
        let first = self.rng.pick(&CELLS);
        let second: Vec<u32> = self
            .rng
            .pick(&CELLS)
            .iter()
            .copied()
            .filter(|s| *s <= 8)
            .collect();
        let onsets: Vec<u32> = first
            .iter()
            .copied()
            .chain(second.iter().map(|s| s + 16))
            .collect();
        let moves = [-2, -1, -1, 1, 1, 2, 0, -3, 3];
        let m: Motif = onsets
            .iter()
            .enumerate()
            .map(|(i, &on)| {
                let end = onsets.get(i + 1).copied().unwrap_or(32);
                let mv = if i == 0 { 0 } else { self.rng.pick(&moves) };
                (on, end - on, mv)
            })
            .collect();
        self.motifs.insert(kind, m.clone());
        m
    }

    fn melody(&mut self, t0: u32, s: &PlacedSection, b: u32, chord: Chord, next_chord: Chord) {
        let (lo, hi) = (64u8, 81u8);
        match s.kind {
            SectionKind::Chorus | SectionKind::Hook => {
                // A sustained counter-line above the harmony: one chord tone per bar.
                let pcs = chord.pitch_classes(self.key);
                let target = pcs[1.min(pcs.len() - 1)];
                let k = nearest_pc(self.lead_pitch, target, lo, hi);
                self.lead_pitch = k;
                self.push(Part::Melody, CH_LEAD, k, 64.0, t0, BAR - 40);
            }
            _ => {
                let pair_start = b.is_multiple_of(2);
                // Sung sections other than verses get the motif every other line;
                // verses answer the singer at the end of each line.
                let sung = s.lyric_section.is_some();
                let answers =
                    sung && !matches!(s.kind, SectionKind::PreChorus | SectionKind::Bridge);
                let play = !sung || answers || (b / 2) % 2 == 1;
                if !play || !pair_start || b + 1 >= s.bars {
                    return;
                }
                let motif = self.motif(s.kind);
                let next_chord_pcs = next_chord.pitch_classes(self.key);
                let pcs0 = chord.pitch_classes(self.key);
                let mut p = nearest_of(self.lead_pitch, &pcs0, lo, hi);
                // Verses answer the singer at the end of each line: the motif's second half
                // bar, moved into the last two beats of the phrase.
                let notes: Vec<(u32, u32, i32)> = if answers {
                    motif
                        .iter()
                        .filter(|n| (8..16).contains(&n.0))
                        .map(|&(step, len, mv)| (step + 16, len.min(16 - step), mv))
                        .collect()
                } else {
                    motif
                };
                for (i, &(step, len, mv)) in notes.iter().enumerate() {
                    if i > 0 {
                        p = scale_step(self.key, p, mv, lo, hi);
                    }
                    if step % 8 == 0 {
                        let pcs = if step >= 16 { &next_chord_pcs } else { &pcs0 };
                        p = nearest_of(p, pcs, lo, hi);
                    }
                    let vel = if answers { 66.0 } else { 80.0 };
                    self.push(
                        Part::Melody,
                        CH_LEAD,
                        p,
                        vel,
                        t0 + step * STEP + self.swing(step),
                        len * STEP - 20,
                    );
                }
                self.lead_pitch = p;
            }
        }
    }
}

/// A bass note for a pitch class, E1..D#2.
fn bass_note(pc: u8) -> u8 {
    28 + (pc + 12 - 4) % 12
}

/// The nearest note of the key above (`up`) or below `note`.
fn scale_neighbour(key: Key, note: u8, up: bool) -> u8 {
    let mut k = note;
    loop {
        k = if up { k + 1 } else { k - 1 };
        if key.contains(k) {
            return k;
        }
    }
}

/// The note of pitch class `pc` nearest to `near`, within `lo..=hi`.
fn nearest_pc(near: u8, pc: u8, lo: u8, hi: u8) -> u8 {
    (lo..=hi)
        .filter(|k| k % 12 == pc % 12)
        .min_by_key(|k| (i32::from(*k) - i32::from(near)).abs())
        .unwrap_or(near)
}

/// The chord tone nearest to `near`, within range.
fn nearest_of(near: u8, pcs: &[u8], lo: u8, hi: u8) -> u8 {
    pcs.iter()
        .map(|&pc| nearest_pc(near, pc, lo, hi))
        .min_by_key(|k| (i32::from(*k) - i32::from(near)).abs())
        .unwrap_or(near)
}

/// Moves `steps` scale degrees from `from` (snapped into the key), turning back at the range.
fn scale_step(key: Key, from: u8, steps: i32, lo: u8, hi: u8) -> u8 {
    let mut k = i32::from(from);
    while !key.contains(k as u8) {
        k -= 1;
    }
    let dir = steps.signum();
    let mut left = steps.abs();
    let mut dir = if (k >= i32::from(hi) - 2 && dir > 0) || (k <= i32::from(lo) + 2 && dir < 0) {
        -dir
    } else {
        dir
    };
    while left > 0 {
        k += dir;
        if k > i32::from(hi) || k < i32::from(lo) {
            dir = -dir;
            k += 2 * dir;
        }
        if key.contains(k as u8) {
            left -= 1;
        }
    }
    k.clamp(i32::from(lo), i32::from(hi)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> Dictionary {
        Dictionary::parse(String::new()).unwrap()
    }

    fn plan(genre: Genre, seed: u64) -> Plan {
        Plan {
            genre,
            bpm: None,
            key: None,
            duration_s: None,
            seed,
        }
    }

    const LYRICS: &str = "Verse 1:\na\nb\nc\nd\n\nChorus:\ne\nf\ng\nh\n\nVerse 2:\ni\nj\nk\nl\n\nChorus:\ne\nf\ng\nh\n\nBridge:\nm\nn\n\nChorus:\ne\nf\ng\nh";

    #[test]
    fn sections_get_bars_from_their_lines_with_intro_and_outro() {
        let a = arrange(LYRICS, &plan(Genre::Pop, 1), &dict()).unwrap();
        let names: Vec<(&str, u32)> = a
            .sections
            .iter()
            .map(|s| (s.name.as_str(), s.bars))
            .collect();
        assert_eq!(
            names,
            [
                ("Intro", 4),
                ("Verse 1", 8),
                ("Chorus", 8),
                ("Verse 2", 8),
                ("Chorus", 8),
                ("Bridge", 4),
                ("Chorus", 8),
                ("Outro", 4)
            ]
        );
        assert_eq!(a.bars, 52);
        assert_eq!(a.chords.len(), 52);
        // Sections tile the grid.
        let mut bar = 0;
        for s in &a.sections {
            assert_eq!(s.start_bar, bar);
            bar += s.bars;
        }
        // Ends on the tonic.
        assert_eq!(a.chords.last().map(|c| c.symbol.as_str()), Some("G"));
    }

    #[test]
    fn a_requested_duration_is_met_within_half_a_bar() {
        for d in [40.0, 95.0, 180.0, 600.0] {
            for g in [Genre::Pop, Genre::Ballad, Genre::Electronic] {
                let mut p = plan(g, 3);
                p.duration_s = Some(d);
                match arrange(LYRICS, &p, &dict()) {
                    Ok(a) => assert!(
                        (a.duration_s() - d).abs() <= a.bar_seconds() / 2.0 + 1e-9,
                        "{g:?} {d}: {} at {} BPM, {} bars",
                        a.duration_s(),
                        a.bpm,
                        a.bars
                    ),
                    Err(FitError::TooShort { min_duration_s, .. }) => {
                        assert!(d < min_duration_s, "{g:?} {d}")
                    }
                    Err(e) => panic!("{g:?} {d}: {e}"),
                }
            }
        }
    }

    #[test]
    fn a_duration_too_short_for_the_lines_is_refused_with_the_one_that_fits() {
        let mut p = plan(Genre::Pop, 3);
        p.duration_s = Some(20.0);
        match arrange(LYRICS, &p, &dict()) {
            Err(FitError::TooShort { min_duration_s, .. }) => {
                assert!(min_duration_s > 20.0);
                p.duration_s = Some(min_duration_s);
                assert!(arrange(LYRICS, &p, &dict()).is_ok());
            }
            other => panic!("{:?}", other.map(|a| a.duration_s())),
        }
    }

    #[test]
    fn endless_lyrics_still_make_a_song_of_at_most_ten_minutes() {
        let lyrics = "Chorus:\nla\n".repeat(1500);
        let a = arrange(&lyrics, &plan(Genre::Ballad, 1), &dict()).unwrap();
        assert!(
            a.duration_s() <= MAX_SONG_S + a.bar_seconds(),
            "{}",
            a.duration_s()
        );
    }

    #[test]
    fn pitched_notes_stay_in_the_key_and_notes_inside_the_song() {
        for g in Genre::ALL {
            let a = arrange(LYRICS, &plan(g, 7), &dict()).unwrap();
            let end = a.bars * BAR;
            let pitched: Vec<&Note> = a.notes.iter().filter(|n| n.part != Part::Drums).collect();
            let in_key = pitched.iter().filter(|n| a.key.contains(n.key)).count();
            // Approach notes in the bass are chromatic on purpose; everything else is diatonic.
            assert!(
                in_key as f64 >= 0.9 * pitched.len() as f64,
                "{g:?}: {in_key}/{}",
                pitched.len()
            );
            assert!(
                a.notes.iter().all(|n| n.start + n.duration <= end + BAR),
                "{g:?}"
            );
            for p in Part::ALL {
                assert!(a.notes.iter().any(|n| n.part == p), "{g:?} has no {p:?}");
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_song_and_another_seed_another() {
        let a = arrange(LYRICS, &plan(Genre::Jazz, 11), &dict()).unwrap();
        let b = arrange(LYRICS, &plan(Genre::Jazz, 11), &dict()).unwrap();
        let c = arrange(LYRICS, &plan(Genre::Jazz, 12), &dict()).unwrap();
        assert_eq!(a.notes, b.notes);
        assert_ne!(a.notes, c.notes);
    }

    #[test]
    fn choruses_are_busier_than_verses() {
        let a = arrange(LYRICS, &plan(Genre::Rock, 5), &dict()).unwrap();
        let count = |name: &str| {
            let s = a.sections.iter().find(|s| s.name == name).unwrap();
            let (from, to) = (s.start_bar * BAR, (s.start_bar + s.bars) * BAR);
            a.notes
                .iter()
                .filter(|n| n.part == Part::Drums && n.start >= from && n.start < to)
                .count() as f64
                / f64::from(s.bars)
        };
        assert!(count("Chorus") > count("Verse 1"));
    }

    #[test]
    fn voice_leading_moves_little() {
        let a = arrange(LYRICS, &plan(Genre::Pop, 2), &dict()).unwrap();
        // Harmony notes on each bar's downbeat, channel 1.
        let mut prev: Option<Vec<u8>> = None;
        let mut total = 0i32;
        let mut n = 0;
        for bar in 4..40 {
            let mut v: Vec<u8> = a
                .notes
                .iter()
                .filter(|x| x.channel == 1 && x.start == bar * BAR)
                .map(|x| x.key)
                .collect();
            v.sort_unstable();
            v.truncate(3);
            if let Some(p) = &prev
                && p.len() == 3
                && v.len() == 3
            {
                total += p
                    .iter()
                    .zip(&v)
                    .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
                    .sum::<i32>();
                n += 1;
            }
            prev = Some(v);
        }
        // Close voice leading: on average under 3 semitones per voice between chords.
        assert!(
            n > 10 && total as f64 / (n as f64 * 3.0) < 3.0,
            "{total} over {n}"
        );
    }
}
