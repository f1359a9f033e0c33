//! MusicGen's delay pattern: codebook `k` runs `k` steps behind codebook 0, so each step
//! predicts frame `j` of codebook 0 alongside frame `j - k` of codebook `k`. Before its first
//! frame a codebook holds BOS; after its last, PAD.

/// What codebook `k` holds at a decoding position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Before the codebook's first frame.
    Bos,
    /// After its last frame.
    Pad,
    /// Frame `j` of the codebook.
    Frame(usize),
}

/// Slot of codebook `k` at position `p` (1-based: position 0 is the BOS every codebook starts
/// with) when `frames` frames are generated.
pub fn slot(k: usize, p: usize, frames: usize) -> Slot {
    match p.checked_sub(k + 1) {
        None => Slot::Bos,
        Some(j) if j >= frames => Slot::Pad,
        Some(j) => Slot::Frame(j),
    }
}

/// Positions needed after the BOS for `frames` frames of `codebooks` codebooks.
pub fn positions(frames: usize, codebooks: usize) -> usize {
    frames + codebooks.saturating_sub(1)
}

/// Frames out of the delayed grid: `grid[p][k]` is codebook `k`'s token at position `p`
/// (position 0 the BOS); returns `codes[k][j]`.
pub fn undelay(grid: &[Vec<u32>], codebooks: usize, frames: usize) -> Vec<Vec<u32>> {
    (0..codebooks)
        .map(|k| (0..frames).map(|j| grid[j + k + 1][k]).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_codebooks_three_frames_by_hand() {
        // Rows are positions 1..=6, columns codebooks 0..4 (B = BOS, P = PAD, n = frame n).
        let want = [
            "0 B B B", "1 0 B B", "2 1 0 B", "P 2 1 0", "P P 2 1", "P P P 2",
        ];
        for (row, line) in want.iter().enumerate() {
            let got: Vec<String> = (0..4)
                .map(|k| match slot(k, row + 1, 3) {
                    Slot::Bos => "B".into(),
                    Slot::Pad => "P".into(),
                    Slot::Frame(j) => j.to_string(),
                })
                .collect();
            assert_eq!(got.join(" "), *line, "position {}", row + 1);
        }
        assert_eq!(positions(3, 4), 6);
    }

    #[test]
    fn undelay_reads_each_codebook_back_in_order() {
        // Token = 10 * codebook + frame where a frame sits; 99 elsewhere.
        let grid: Vec<Vec<u32>> = (0..=6)
            .map(|p| {
                (0..4)
                    .map(|k| match slot(k, p, 3) {
                        Slot::Frame(j) if p > 0 => (10 * k + j) as u32,
                        _ => 99,
                    })
                    .collect()
            })
            .collect();
        let codes = undelay(&grid, 4, 3);
        assert_eq!(codes[0], [0, 1, 2]);
        assert_eq!(codes[3], [30, 31, 32]);
    }
}
