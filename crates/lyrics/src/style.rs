//! How each genre preset's lyrics read: the brief the model gets, and the line lengths the
//! scorer expects.

use songforge_genre::Genre;

/// Lyric conventions for one genre preset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LyricStyle {
    /// Words and images typical of the genre, for the writer's brief.
    pub guidance: &'static str,
    /// Comfortable syllables per line, inclusive.
    pub syllables: (usize, usize),
}

/// The conventions for `genre`.
pub fn style_for(genre: Genre) -> LyricStyle {
    let (guidance, syllables) = match genre {
        Genre::Pop => (
            "simple, direct, catchy lines about feelings; a memorable hook",
            (6, 11),
        ),
        Genre::Rock => (
            "bold, energetic lines with attitude and strong images",
            (6, 11),
        ),
        Genre::HipHop => (
            "rhythmic lines with internal rhymes, wordplay and confident flow",
            (8, 16),
        ),
        Genre::Electronic => (
            "short, repeatable phrases about night, lights, motion and the dance floor",
            (4, 9),
        ),
        Genre::LoFi => (
            "calm, intimate, nostalgic lines about small everyday moments",
            (5, 10),
        ),
        Genre::Jazz => (
            "smooth, witty lines with romance and night-time city images",
            (6, 11),
        ),
        Genre::Country => (
            "plain-spoken storytelling with places, roads, home and heartache",
            (6, 11),
        ),
        Genre::Ballad => (
            "tender, heartfelt lines with vivid emotional images",
            (6, 11),
        ),
        Genre::RnB => (
            "smooth, sensual, soulful lines about love and longing",
            (6, 12),
        ),
        Genre::Folk => (
            "honest storytelling lines about nature, people and places",
            (6, 11),
        ),
    };
    LyricStyle {
        guidance,
        syllables,
    }
}
