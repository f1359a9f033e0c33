//! The lyrics' form: which sections, in what order, which ones repeat word for word, and how
//! much to write so the song fits a duration. Section kinds are the song plan's
//! (`songforge-song`), shared with every other stage.

use serde::Serialize;
use songforge_genre::Genre;
use songforge_prosody::Dictionary;
pub use songforge_song::form::SectionKind;
use songforge_song::form::{LyricSection, band_only, genre_form};
use songforge_song::plan::{Tempo, shortest_duration_s, unhurried_duration_s};

/// One section in the song's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionSlot {
    /// Kind of section.
    pub kind: SectionKind,
    /// Heading without the colon (`Verse 2`, `Chorus`).
    pub name: String,
    /// For a repeat (second chorus, …), the index of the slot whose lines it reuses.
    pub repeat_of: Option<usize>,
    /// Whether lines are written for it; an unsung slot is a heading the band plays alone.
    pub sung: bool,
}

/// The ordered sections of a song.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    slots: Vec<SectionSlot>,
}

impl Structure {
    /// Numbers verses (`Verse 1`, `Verse 2`), and links repeats of choruses, pre-choruses and
    /// hooks to their first occurrence.
    pub fn new(kinds: Vec<SectionKind>) -> Self {
        let sung = kinds
            .iter()
            .map(|k| *k != SectionKind::Instrumental)
            .collect();
        Self::with_sung(kinds, sung)
    }

    /// [`Structure::new`] with the slots that get lines chosen (`sung[i]` for `kinds[i]`).
    fn with_sung(kinds: Vec<SectionKind>, sung: Vec<bool>) -> Self {
        let verses = kinds.iter().filter(|k| **k == SectionKind::Verse).count();
        let mut verse_no = 0;
        let mut slots: Vec<SectionSlot> = Vec::with_capacity(kinds.len());
        for (kind, sung) in kinds.into_iter().zip(sung) {
            let name = if kind == SectionKind::Verse && verses > 1 {
                verse_no += 1;
                format!("Verse {verse_no}")
            } else if kind == SectionKind::Verse {
                "Verse 1".to_string()
            } else {
                kind.title().to_string()
            };
            let repeat_of = if kind.repeats() {
                slots
                    .iter()
                    .position(|s| s.kind == kind && s.repeat_of.is_none())
            } else {
                None
            };
            slots.push(SectionSlot {
                kind,
                name,
                repeat_of,
                sung,
            });
        }
        Self { slots }
    }

    /// The usual form for a genre, with the sections its band plays alone unsung.
    pub fn default_for(genre: Genre) -> Self {
        let kinds = genre_form(genre);
        let sung = kinds
            .iter()
            .map(|k| *k != SectionKind::Instrumental && !band_only(genre, *k))
            .collect();
        Self::with_sung(kinds, sung)
    }

    /// The sections in order.
    pub fn sections(&self) -> &[SectionSlot] {
        &self.slots
    }

    /// The kinds in order.
    pub fn kinds(&self) -> Vec<SectionKind> {
        self.slots.iter().map(|s| s.kind).collect()
    }

    /// The shortest song this form can be sung in, seconds, when every line has `syllables`
    /// and a section of a kind has `lines(kind)` lines.
    pub fn shortest_s(
        &self,
        lines: impl Fn(SectionKind) -> usize,
        syllables: usize,
        dict: &Dictionary,
        tempo: Tempo,
    ) -> f64 {
        shortest_duration_s(&self.stand_in(lines, syllables), dict, tempo)
    }

    /// How long this form takes sung unhurried (see [`unhurried_duration_s`]), seconds, with
    /// lines as for [`Structure::shortest_s`].
    pub fn unhurried_s(
        &self,
        lines: impl Fn(SectionKind) -> usize,
        syllables: usize,
        dict: &Dictionary,
        tempo: Tempo,
    ) -> f64 {
        unhurried_duration_s(&self.stand_in(lines, syllables), dict, tempo)
    }

    /// The form with a stand-in line of the longest length the writer keeps; repeats share
    /// their words.
    fn stand_in(
        &self,
        lines: impl Fn(SectionKind) -> usize,
        syllables: usize,
    ) -> Vec<LyricSection> {
        let line = vec!["la"; syllables.max(1)].join(" ");
        self.slots
            .iter()
            .map(|s| LyricSection {
                name: s.name.clone(),
                kind: s.kind,
                lines: if s.sung {
                    vec![line.clone(); lines(s.kind)]
                } else {
                    Vec::new()
                },
            })
            .collect()
    }

    /// A shorter form, `None` when only the first verse and the first refrain are left. A
    /// doubled refrain at the end loses its second; otherwise the last section that is
    /// neither of those nor a refrain goes, so the song still ends on its refrain.
    pub fn without_last_optional(&self) -> Option<Self> {
        let first_verse = self.slots.iter().position(|s| s.kind == SectionKind::Verse);
        let first_refrain = self.slots.iter().position(|s| s.kind.is_refrain());
        let optional = |i: usize| Some(i) != first_verse && Some(i) != first_refrain;
        let n = self.slots.len();
        let refrain = |i: usize| self.slots[i].kind.is_refrain();
        if n >= 2 && refrain(n - 1) && refrain(n - 2) && optional(n - 1) {
            return Some(self.without(n - 1));
        }
        let drop = (0..n)
            .rev()
            .find(|&i| optional(i) && !refrain(i))
            .or_else(|| (0..n).rev().find(|&i| optional(i)))?;
        Some(self.without(drop))
    }

    /// A shorter form without its last bridge; `None` when it has none. A short song drops
    /// its bridge before its last chorus: verse and chorus are what it is heard by, and a
    /// bridge is one more section to write.
    pub fn without_bridge(&self) -> Option<Self> {
        let drop = self
            .slots
            .iter()
            .rposition(|s| s.kind == SectionKind::Bridge)?;
        Some(self.without(drop))
    }

    fn without(&self, drop: usize) -> Self {
        let (kinds, sung) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != drop)
            .map(|(_, s)| (s.kind, s.sung))
            .unzip();
        Self::with_sung(kinds, sung)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verses_are_numbered_and_choruses_repeat_the_first() {
        use SectionKind::*;
        let s = Structure::new(vec![Verse, Chorus, Verse, Chorus, Bridge, Chorus]);
        let names: Vec<&str> = s.sections().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["Verse 1", "Chorus", "Verse 2", "Chorus", "Bridge", "Chorus"]
        );
        let repeats: Vec<Option<usize>> = s.sections().iter().map(|s| s.repeat_of).collect();
        assert_eq!(repeats, [None, None, None, Some(1), None, Some(1)]);
    }

    #[test]
    fn an_electronic_intro_and_outro_are_the_bands_and_a_chosen_one_is_sung() {
        use SectionKind::*;
        let s = Structure::default_for(Genre::Electronic);
        let sung: Vec<(SectionKind, bool)> =
            s.sections().iter().map(|x| (x.kind, x.sung)).collect();
        assert_eq!(sung.first(), Some(&(Intro, false)));
        assert_eq!(sung.last(), Some(&(Outro, false)));
        assert!(
            sung.iter()
                .filter(|(k, _)| *k != Intro && *k != Outro)
                .all(|(_, s)| *s)
        );
        let chosen = Structure::new(vec![Intro, Verse, Chorus, Outro]);
        assert!(chosen.sections().iter().all(|x| x.sung));
        // Dropping a section keeps the others' roles.
        let shorter = s.without_last_optional().expect("optional sections");
        assert!(!shorter.sections()[0].sung);
    }

    #[test]
    fn every_genre_has_a_form_with_a_refrain() {
        for g in Genre::ALL {
            let s = Structure::default_for(g);
            assert!(s.sections().iter().any(|x| x.kind.repeats()), "{g:?}");
            assert!(
                s.sections().iter().any(|x| x.kind == SectionKind::Verse),
                "{g:?}"
            );
        }
    }
}
