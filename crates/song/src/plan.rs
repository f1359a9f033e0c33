//! The song plan: every sung line placed on the bar grid, and the form fitted to a duration.
//!
//! A line gets at least the bars its syllables need at the fastest note a syllable may take
//! (never under 0.15 s: sixteenths at 100 BPM and below, eighths above), plus a beat to
//! breathe. A requested duration is met by the form (instrumental bars, a chorus repeated or
//! a repeat dropped) and the tempo (within the genre's range), never by squeezing a line.

use crate::form::{LyricSection, SectionKind};
use serde::Serialize;
use songforge_prosody::Dictionary;

/// Ring-out after the last bar, in bars; it counts towards the song's length.
pub const TAIL_BARS: f64 = 0.5;
/// Longest song, seconds.
pub const MAX_SONG_S: f64 = 600.0;
/// Shortest note a syllable is sung on, seconds.
const MIN_SYLLABLE_S: f64 = 0.15;
/// Beats in a bar (every preset is in 4/4).
const BEATS_PER_BAR: u32 = 4;
/// Most refrain repeats the fit adds to reach a long duration, before it adds breaks alone.
const MAX_ADDED_REFRAINS: usize = 3;

/// The tempo: the one to prefer, and the range a fit may move it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tempo {
    /// Preferred beats a minute.
    pub bpm: u32,
    /// Slowest allowed.
    pub min: u32,
    /// Fastest allowed.
    pub max: u32,
}

impl Tempo {
    /// A genre's tempo, free to move 15 % either way to fit a duration.
    pub fn around(bpm: u32) -> Self {
        Self {
            bpm,
            min: (bpm * 85 / 100).max(40),
            max: (bpm * 115 / 100).min(240),
        }
    }

    /// A tempo the user chose: the fit keeps it.
    pub fn fixed(bpm: u32) -> Self {
        Self {
            bpm,
            min: bpm,
            max: bpm,
        }
    }
}

/// How many syllables a beat can carry at `bpm`: four when a sixteenth lasts at least
/// [`MIN_SYLLABLE_S`], else two.
pub fn syllables_per_beat(bpm: u32) -> u32 {
    if 60.0 / f64::from(bpm) / 4.0 >= MIN_SYLLABLE_S - 1e-9 {
        4
    } else {
        2
    }
}

/// The fewest bars a line of `syllables` can be sung in at `bpm`, a breath included.
pub fn min_line_bars(syllables: u32, bpm: u32) -> u32 {
    let beats = syllables.div_ceil(syllables_per_beat(bpm)) + 1;
    beats.div_ceil(BEATS_PER_BAR).max(1)
}

/// The bars a line gets when there is room: two at song tempo, one when slow, never fewer
/// than it needs.
pub fn preferred_line_bars(syllables: u32, bpm: u32) -> u32 {
    let usual = if bpm < 88 { 1 } else { 2 };
    min_line_bars(syllables, bpm).max(usual)
}

/// One sung line on the grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinePlan {
    /// First bar, 0-based from the top of the song.
    pub start_bar: u32,
    /// Bars it is sung over.
    pub bars: u32,
    /// Syllables counted for it.
    pub syllables: u32,
}

/// One section on the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionPlan {
    /// `Verse 1`, `Chorus`, `Intro`.
    pub name: String,
    /// Kind.
    pub kind: SectionKind,
    /// First bar, 0-based.
    pub start_bar: u32,
    /// Length in bars.
    pub bars: u32,
    /// The lyric section sung here (index into the lyrics' sections); `None`: instrumental.
    pub lyric_section: Option<usize>,
    /// Where each sung line falls; empty when instrumental.
    pub lines: Vec<LinePlan>,
}

/// The whole song on the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SongPlan {
    /// Tempo.
    pub bpm: u32,
    /// Sections in order.
    pub sections: Vec<SectionPlan>,
    /// Length in bars, without the ring-out.
    pub bars: u32,
}

impl SongPlan {
    /// Seconds per bar.
    pub fn bar_seconds(&self) -> f64 {
        240.0 / f64::from(self.bpm)
    }

    /// Length of the audio: every bar plus the ring-out.
    pub fn duration_s(&self) -> f64 {
        (f64::from(self.bars) + TAIL_BARS) * self.bar_seconds()
    }
}

/// Why lyrics cannot make a song of the asked length.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// The requested duration is shorter than the lyrics can be sung in.
    #[error(
        "{duration_s} s is too short for these lyrics: sung without squeezing a line they need at least {min_duration_s} s"
    )]
    TooShort {
        /// What was asked.
        duration_s: f64,
        /// The shortest duration that fits, whole seconds.
        min_duration_s: f64,
    },
    /// The lyrics need more than the longest song allowed.
    #[error(
        "the lyrics need at least {min_duration_s} s to sing; the longest song is {MAX_SONG_S} s"
    )]
    TooLong {
        /// The shortest duration they fit, whole seconds.
        min_duration_s: f64,
    },
}

impl FitError {
    /// The request field at fault: `duration` when it is too short, `lyrics` when they are
    /// longer than the longest song; both 422.
    pub fn field_error(&self) -> songforge_field_error::FieldError {
        let field = match self {
            Self::TooShort { .. } => "duration",
            Self::TooLong { .. } => "lyrics",
        };
        songforge_field_error::FieldError::unacceptable(field, self.to_string())
    }
}

/// A piece of the form while it is being fitted.
#[derive(Debug, Clone)]
struct Block {
    name: String,
    kind: SectionKind,
    lyric_section: Option<usize>,
    /// Syllables of each sung line.
    syllables: Vec<u32>,
    /// Bars of each sung line.
    line_bars: Vec<u32>,
    /// Bars before the first line (sung) or the whole section (instrumental).
    lead: u32,
    /// Bars after the last line.
    tail: u32,
    /// A later occurrence of a repeating section: it may be dropped to fit.
    droppable: bool,
    /// Added by the fit (an intro, outro, break or extra refrain).
    added: bool,
}

impl Block {
    fn bars(&self) -> u32 {
        self.lead + self.line_bars.iter().sum::<u32>() + self.tail
    }

    fn sung(&self) -> bool {
        !self.syllables.is_empty()
    }

    fn instrumental(name: &str, kind: SectionKind, bars: u32) -> Self {
        Self {
            name: name.into(),
            kind,
            lyric_section: None,
            syllables: Vec::new(),
            line_bars: Vec::new(),
            lead: bars,
            tail: 0,
            droppable: false,
            added: true,
        }
    }
}

/// The form read from the lyrics, before any fitting: the lyric sections in order, with an
/// instrumental intro and outro added where the lyrics do not open or close with one.
fn blocks(sections: &[LyricSection], dict: &Dictionary) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        let syllables: Vec<u32> = s
            .sung_lines()
            .map(|l| dict.line_syllables(l).max(1) as u32)
            .collect();
        let droppable = s.kind.repeats()
            && sections[..i]
                .iter()
                .any(|e| e.kind == s.kind && e.lines == s.lines);
        out.push(Block {
            name: s.name.clone(),
            kind: s.kind,
            lyric_section: (!syllables.is_empty()).then_some(i),
            line_bars: vec![0; syllables.len()],
            syllables,
            lead: 0,
            tail: 0,
            droppable,
            added: false,
        });
    }
    if out.first().is_none_or(|b| b.kind != SectionKind::Intro) {
        out.insert(0, Block::instrumental("Intro", SectionKind::Intro, 0));
    }
    if out.last().is_none_or(|b| b.kind != SectionKind::Outro) {
        out.push(Block::instrumental("Outro", SectionKind::Outro, 0));
    }
    out
}

/// Sets every block to its least: lines at their fewest bars, a bar to open and close on.
fn minimise(blocks: &mut [Block], bpm: u32) {
    let n = blocks.len();
    for (i, b) in blocks.iter_mut().enumerate() {
        for (bars, &syl) in b.line_bars.iter_mut().zip(&b.syllables) {
            *bars = min_line_bars(syl, bpm);
        }
        let edge = i == 0 || i + 1 == n;
        if b.sung() {
            b.lead = u32::from(i == 0);
            b.tail = u32::from(i + 1 == n);
        } else {
            b.lead = u32::from(edge || !b.added);
            b.tail = 0;
        }
    }
}

/// Spends up to `budget` bars growing the form towards its natural shape, in order of what a
/// listener misses most: room in the lines, an intro and outro, whole four-bar phrases,
/// instrumental sections at full length. Returns what is left.
fn grow(blocks: &mut [Block], bpm: u32, mut budget: u32) -> u32 {
    // Lines to their preferred length, one bar at a time across the song.
    let mut changed = true;
    while budget > 0 && changed {
        changed = false;
        for b in blocks.iter_mut() {
            for (bars, &syl) in b.line_bars.iter_mut().zip(&b.syllables) {
                if budget > 0 && *bars < preferred_line_bars(syl, bpm) {
                    *bars += 1;
                    budget -= 1;
                    changed = true;
                }
            }
        }
    }
    let n = blocks.len();
    let edges = |blocks: &mut [Block], budget: &mut u32, upto: u32| {
        for i in [0, n - 1] {
            let b = &mut blocks[i];
            let want = if b.sung() { upto / 2 } else { upto };
            let bar = if i == 0 || !b.sung() {
                &mut b.lead
            } else {
                &mut b.tail
            };
            let add = want.saturating_sub(*bar).min(*budget);
            *bar += add;
            *budget -= add;
        }
    };
    edges(blocks, &mut budget, 2);
    // Sung sections end on a whole phrase of four bars.
    for b in blocks.iter_mut().filter(|b| b.sung()) {
        let add = b.bars().next_multiple_of(4) - b.bars();
        if add <= budget {
            b.tail += add;
            budget -= add;
        }
    }
    edges(blocks, &mut budget, 4);
    for b in blocks.iter_mut().filter(|b| !b.sung() && !b.added) {
        let add = 8u32.saturating_sub(b.bars()).min(budget);
        b.lead += add;
        budget -= add;
    }
    budget
}

/// The form at its natural length at `bpm`.
fn natural(blocks: &[Block], bpm: u32) -> Vec<Block> {
    let mut b = blocks.to_vec();
    minimise(&mut b, bpm);
    grow(&mut b, bpm, u32::MAX);
    b
}

/// The natural length of the form at `bpm`, in bars.
fn natural_bars(blocks: &[Block], bpm: u32) -> u32 {
    natural(blocks, bpm).iter().map(Block::bars).sum()
}

fn min_bars(blocks: &[Block], bpm: u32) -> u32 {
    let mut b = blocks.to_vec();
    minimise(&mut b, bpm);
    b.iter().map(Block::bars).sum()
}

fn seconds(bars: u32, bpm: u32) -> f64 {
    (f64::from(bars) + TAIL_BARS) * 240.0 / f64::from(bpm)
}

/// Bars (without the ring-out) closest to `duration_s` at `bpm`.
fn target_bars(duration_s: f64, bpm: u32) -> u32 {
    ((duration_s * f64::from(bpm) / 240.0 - TAIL_BARS).round() as i64).max(1) as u32
}

/// The form with every droppable repeat taken out, last first, until it fits `target`.
fn drop_to_fit(mut form: Vec<Block>, bpm: u32, target: u32) -> Option<Vec<Block>> {
    while min_bars(&form, bpm) > target {
        let last = form.iter().rposition(|b| b.droppable)?;
        form.remove(last);
    }
    Some(form)
}

/// Fills `budget` bars past the natural form: an instrumental break and another refrain
/// before the outro, as often as they fit, then longer breaks and tails.
fn extend(form: &mut Vec<Block>, budget: &mut u32) {
    let refrain = form
        .iter()
        .find(|b| b.kind.is_refrain() && b.sung())
        .or_else(|| form.iter().rev().find(|b| b.sung()))
        .map(|r| Block {
            lead: 0,
            droppable: true,
            added: true,
            ..r.clone()
        });
    let mut added = 0;
    while let Some(r) = refrain.as_ref().filter(|_| added < MAX_ADDED_REFRAINS) {
        let cost = 8 + r.bars();
        if *budget < cost {
            break;
        }
        let at = form.len() - 1;
        form.insert(at, r.clone());
        form.insert(
            at,
            Block::instrumental("Instrumental", SectionKind::Instrumental, 8),
        );
        *budget -= cost;
        added += 1;
    }
    // What is left goes to the instrumental sections and the tails, a bar at a time.
    while *budget > 0 {
        let before = *budget;
        for b in form.iter_mut() {
            if *budget == 0 {
                break;
            }
            if b.sung() {
                b.tail += 1;
            } else {
                b.lead += 1;
            }
            *budget -= 1;
        }
        if *budget == before {
            break;
        }
    }
}

/// Plans the song for `sections` (as [`crate::read_form`] reads them): the tempo within
/// `tempo`'s range, every section and sung line on the bar grid, and `duration_s` met within
/// half a bar when given (else the form's natural length, at most [`MAX_SONG_S`]).
pub fn plan_song(
    sections: &[LyricSection],
    dict: &Dictionary,
    tempo: Tempo,
    duration_s: Option<f64>,
) -> Result<SongPlan, FitError> {
    let form = blocks(sections, dict);
    let (duration_s, asked) = match duration_s {
        Some(d) => (d, true),
        None => {
            let song = natural(&form, tempo.bpm);
            let bars = song.iter().map(Block::bars).sum();
            if seconds(bars, tempo.bpm) <= MAX_SONG_S {
                return Ok(layout(&song, tempo.bpm));
            }
            (MAX_SONG_S, false)
        }
    };
    // Tempos in order of how close their natural length comes to the duration, then how
    // close they are to the preferred tempo; each natural length is worked out once.
    let mut tempos: Vec<(f64, u32, u32)> = (tempo.min..=tempo.max)
        .map(|t| {
            let off = (seconds(natural_bars(&form, t), t) - duration_s).abs();
            (off, t.abs_diff(tempo.bpm), t)
        })
        .collect();
    tempos.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for &(_, _, bpm) in &tempos {
        let target = target_bars(duration_s, bpm);
        let Some(mut f) = drop_to_fit(form.clone(), bpm, target) else {
            continue;
        };
        minimise(&mut f, bpm);
        let used: u32 = f.iter().map(Block::bars).sum();
        let mut left = grow(&mut f, bpm, target - used);
        extend(&mut f, &mut left);
        return Ok(layout(&f, bpm));
    }
    // Nothing fits: the shortest duration that does.
    let shortest = shortest_s(&form, tempo).ceil();
    Err(if asked && shortest <= MAX_SONG_S {
        FitError::TooShort {
            duration_s,
            min_duration_s: shortest,
        }
    } else {
        FitError::TooLong {
            min_duration_s: shortest,
        }
    })
}

/// The fitted blocks as sections on the grid.
fn layout(form: &[Block], bpm: u32) -> SongPlan {
    let mut start = 0;
    let sections = form
        .iter()
        .map(|b| {
            let mut bar = start + b.lead;
            let lines = b
                .line_bars
                .iter()
                .zip(&b.syllables)
                .map(|(&bars, &syllables)| {
                    let l = LinePlan {
                        start_bar: bar,
                        bars,
                        syllables,
                    };
                    bar += bars;
                    l
                })
                .collect();
            let s = SectionPlan {
                name: b.name.clone(),
                kind: b.kind,
                start_bar: start,
                bars: b.bars(),
                lyric_section: b.lyric_section,
                lines,
            };
            start += b.bars();
            s
        })
        .collect();
    SongPlan {
        bpm,
        sections,
        bars: start,
    }
}

/// The shortest song `sections` can be sung in within `tempo`'s range, seconds: what a
/// writer checks before choosing how much to write.
pub fn shortest_duration_s(sections: &[LyricSection], dict: &Dictionary, tempo: Tempo) -> f64 {
    shortest_s(&blocks(sections, dict), tempo)
}

/// The length `sections` are sung in unhurried at `tempo`'s preferred bpm, seconds: every
/// line at its preferred bars and every repeat kept, with the bare minimum around them (a bar
/// in, a bar out, instrumental sections at one bar). Lyrics no longer than a duration this
/// way are sung whole, at an easy pace, in it.
pub fn unhurried_duration_s(sections: &[LyricSection], dict: &Dictionary, tempo: Tempo) -> f64 {
    let bpm = tempo.bpm;
    let mut form = blocks(sections, dict);
    minimise(&mut form, bpm);
    for block in &mut form {
        for (bars, &syl) in block.line_bars.iter_mut().zip(&block.syllables) {
            *bars = preferred_line_bars(syl, bpm);
        }
    }
    seconds(form.iter().map(Block::bars).sum(), bpm)
}

/// The shortest the form can be sung in within `tempo`'s range, every repeat dropped.
fn shortest_s(form: &[Block], tempo: Tempo) -> f64 {
    let bare: Vec<Block> = form.iter().filter(|b| !b.droppable).cloned().collect();
    (tempo.min..=tempo.max)
        .map(|bpm| seconds(min_bars(&bare, bpm), bpm))
        .fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::read_form;
    use songforge_rng::Rng;

    fn dict() -> Dictionary {
        Dictionary::parse(String::new()).expect("letter rules")
    }

    const POP: &str = "Verse 1:\nI walk along the river in the rain\nThe city lights are calling out my name\nI hold the memory of you so near\nAnd every step I take I feel you here\n\nChorus:\nSummer rain, wash it all away\nSummer rain, I want you here to stay\n\nVerse 2:\nThe night is long and I am on my own\nI find the road that always leads me home\n\nChorus:\nSummer rain, wash it all away\nSummer rain, I want you here to stay";

    /// Every line of every sung lyric section is sung once per occurrence, in order, with the
    /// bars its syllables need, inside its section, and the sections tile the song.
    fn check(plan: &SongPlan, sections: &[LyricSection], d: &Dictionary) {
        let mut bar = 0;
        for s in &plan.sections {
            assert_eq!(s.start_bar, bar, "{plan:?}");
            bar += s.bars;
            match s.lyric_section {
                Some(i) => {
                    let lyric = &sections[i];
                    let lines: Vec<&str> = lyric.sung_lines().collect();
                    assert_eq!(s.lines.len(), lines.len());
                    for (l, text) in s.lines.iter().zip(lines) {
                        let syl = d.line_syllables(text).max(1) as u32;
                        assert!(l.bars >= min_line_bars(syl, plan.bpm), "{text}: {l:?}");
                        assert!(l.start_bar >= s.start_bar);
                        assert!(l.start_bar + l.bars <= s.start_bar + s.bars);
                    }
                }
                None => assert!(s.lines.is_empty()),
            }
        }
        assert_eq!(bar, plan.bars);
    }

    #[test]
    fn a_natural_song_has_intro_outro_and_two_bars_a_line() {
        let (sections, _) = read_form(POP);
        let d = dict();
        let plan = plan_song(&sections, &d, Tempo::around(112), None).unwrap();
        check(&plan, &sections, &d);
        assert_eq!(plan.bpm, 112);
        assert_eq!(plan.sections[0].name, "Intro");
        assert_eq!(plan.sections[0].bars, 4);
        assert_eq!(plan.sections.last().unwrap().name, "Outro");
        assert!(plan.sections[1].lines.iter().all(|l| l.bars == 2));
        for s in &plan.sections {
            assert_eq!(s.bars % 4, 0, "{}", s.name);
        }
    }

    #[test]
    fn sung_intros_and_outros_are_sung() {
        let text = "Intro:\nHere we go tonight\nUnder neon light\n\nVerse 1:\nWe are dancing on the edge\n\nOutro:\nHere we go tonight";
        let (sections, _) = read_form(text);
        let d = dict();
        let plan = plan_song(&sections, &d, Tempo::around(126), Some(60.0)).unwrap();
        check(&plan, &sections, &d);
        let sung: Vec<&str> = plan
            .sections
            .iter()
            .filter(|s| s.lyric_section.is_some())
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(&sung[..2], ["Intro", "Verse 1"]);
        assert_eq!(plan.sections[0].lyric_section, Some(0));
        assert!(
            plan.sections[0].lines[0].start_bar >= 1,
            "a bar to come in on"
        );
    }

    #[test]
    fn durations_are_met_within_half_a_bar_without_squeezing_lines() {
        let (sections, _) = read_form(POP);
        let d = dict();
        let shortest = shortest_duration_s(&sections, &d, Tempo::around(112));
        for target in [30.0, 45.0, 60.0, 90.0, 180.0, 400.0, 600.0] {
            match plan_song(&sections, &d, Tempo::around(112), Some(target)) {
                Ok(plan) => {
                    check(&plan, &sections, &d);
                    let half_bar = plan.bar_seconds() / 2.0;
                    assert!(
                        (plan.duration_s() - target).abs() <= half_bar + 1e-9,
                        "{target}: {}",
                        plan.duration_s()
                    );
                    assert!((95..=128).contains(&plan.bpm));
                }
                Err(FitError::TooShort { min_duration_s, .. }) => {
                    assert!(target < min_duration_s, "{target} < {min_duration_s}");
                    assert!((min_duration_s - shortest.ceil()).abs() < 1e-9);
                    let plan = plan_song(&sections, &d, Tempo::around(112), Some(min_duration_s))
                        .expect("the shortest duration it names fits");
                    check(&plan, &sections, &d);
                }
                Err(e) => panic!("{target}: {e}"),
            }
        }
    }

    #[test]
    fn a_short_duration_drops_a_repeated_chorus_before_refusing() {
        let (sections, _) = read_form(POP);
        let d = dict();
        let full = min_bars(&blocks(&sections, &d), 128);
        let target = seconds(full - 2, 128);
        let plan = plan_song(&sections, &d, Tempo::around(112), Some(target)).unwrap();
        check(&plan, &sections, &d);
        let choruses = plan.sections.iter().filter(|s| s.name == "Chorus").count();
        assert_eq!(choruses, 1, "{plan:?}");
    }

    #[test]
    fn too_long_lyrics_are_refused_with_the_length_they_need() {
        let verse = "A line that goes on and on and on for a while\n".repeat(4);
        let text: String = (1..=150)
            .map(|i| format!("Verse {i}:\n{verse}\n"))
            .collect();
        let (sections, _) = read_form(&text);
        let err = plan_song(&sections, &dict(), Tempo::around(112), None).unwrap_err();
        assert!(
            matches!(err, FitError::TooLong { min_duration_s } if min_duration_s > MAX_SONG_S),
            "{err}"
        );
    }

    #[test]
    fn a_fixed_tempo_is_kept() {
        let (sections, _) = read_form(POP);
        let plan = plan_song(&sections, &dict(), Tempo::fixed(90), Some(120.0)).unwrap();
        assert_eq!(plan.bpm, 90);
    }

    #[test]
    fn random_lyrics_of_every_shape_fit_or_name_the_duration_that_does() {
        let d = dict();
        let words = [
            "love",
            "river",
            "city",
            "tonight",
            "remember",
            "electric",
            "a",
            "the",
            "beautiful",
            "go",
            "higher",
            "we",
            "are",
            "dancing",
            "forever",
        ];
        let kinds = [
            "Intro",
            "Verse",
            "Pre-Chorus",
            "Chorus",
            "Bridge",
            "Hook",
            "Outro",
        ];
        let mut rng = Rng::new(7);
        for case in 0..400 {
            let mut text = String::new();
            let mut chorus: Option<String> = None;
            for _ in 0..1 + rng.below(8) {
                let kind = kinds[rng.below(kinds.len())];
                let body = if kind == "Chorus" && chorus.is_some() {
                    chorus.clone().unwrap_or_default()
                } else {
                    let lines: Vec<String> = (0..rng.below(6))
                        .map(|_| {
                            (0..1 + rng.below(12))
                                .map(|_| words[rng.below(words.len())])
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .collect();
                    lines.join("\n")
                };
                if kind == "Chorus" {
                    chorus.get_or_insert(body.clone());
                }
                text.push_str(&format!("{kind}:\n{body}\n\n"));
            }
            let (sections, _) = read_form(&text);
            let bpm = 60 + rng.below(100) as u32;
            let duration = 30.0 + rng.below(571) as f64;
            match plan_song(&sections, &d, Tempo::around(bpm), Some(duration)) {
                Ok(plan) => {
                    check(&plan, &sections, &d);
                    assert!(
                        (plan.duration_s() - duration).abs() <= plan.bar_seconds() / 2.0 + 1e-9,
                        "case {case}: {} vs {duration}: {plan:?}",
                        plan.duration_s()
                    );
                }
                Err(FitError::TooShort { min_duration_s, .. }) => {
                    assert!(duration < min_duration_s, "case {case}");
                    let plan = plan_song(&sections, &d, Tempo::around(bpm), Some(min_duration_s))
                        .unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
                    check(&plan, &sections, &d);
                }
                Err(e) => panic!("case {case}: {e}"),
            }
        }
    }
}
