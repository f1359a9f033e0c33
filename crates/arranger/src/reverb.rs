//! A small stereo room for the pitched stems: a four-line feedback delay network (normalised
//! Hadamard feedback, each line damped by a one-pole low-pass) fed by a pre-delayed mono send.
//! The synthesiser's own per-instance reverb tripled the render time; this one runs in blocks
//! that never wrap a delay line, so the inner loop has no divisions and no bounds checks.

/// Delay lengths at 44.1 kHz (mutually prime, 31–47 ms).
const LINES: [usize; 4] = [1361, 1601, 1867, 2053];
/// Pre-delay before the room answers, frames at 44.1 kHz (20 ms).
const PRE_DELAY: usize = 882;
/// One-pole low-pass in the loop: high frequencies die sooner, as in a room.
const DAMPING: f32 = 0.35;

/// Adds the room's answer to `left`/`right` at `wet` (linear), decaying 60 dB in `rt60_s`.
pub fn add_room(left: &mut [f32], right: &mut [f32], sample_rate: u32, rt60_s: f32, wet: f32) {
    let scale = sample_rate as f32 / 44_100.0;
    let lens = LINES.map(|l| ((l as f32 * scale) as usize).max(1));
    let gains = lens.map(|l| 10f32.powf(-3.0 * l as f32 / (rt60_s * sample_rate as f32)));
    let mut lines = lens.map(|l| vec![0f32; l]);
    let pre = ((PRE_DELAY as f32 * scale) as usize).max(1);
    let mut pre_line = vec![0f32; pre];
    let (mut pos, mut pre_pos) = ([0usize; 4], 0usize);
    let mut damp = [0f32; 4];
    let frames = left.len().min(right.len());
    let mut t = 0;
    while t < frames {
        // The longest run in which no line (nor the pre-delay) wraps.
        let mut run = (frames - t).min(pre - pre_pos);
        for i in 0..4 {
            run = run.min(lens[i] - pos[i]);
        }
        let [l0, l1, l2, l3] = &mut lines;
        let s0 = &mut l0[pos[0]..pos[0] + run];
        let s1 = &mut l1[pos[1]..pos[1] + run];
        let s2 = &mut l2[pos[2]..pos[2] + run];
        let s3 = &mut l3[pos[3]..pos[3] + run];
        let send = &mut pre_line[pre_pos..pre_pos + run];
        let (ls, rs) = (&mut left[t..t + run], &mut right[t..t + run]);
        for j in 0..run {
            let input = send[j];
            send[j] = 0.5 * (ls[j] + rs[j]);
            damp[0] += DAMPING * (s0[j] - damp[0]);
            damp[1] += DAMPING * (s1[j] - damp[1]);
            damp[2] += DAMPING * (s2[j] - damp[2]);
            damp[3] += DAMPING * (s3[j] - damp[3]);
            // Fast 4-point Hadamard, halved: orthogonal, so the loop only loses what `gains` take.
            let (a, b) = (damp[0] + damp[1], damp[0] - damp[1]);
            let (c, d) = (damp[2] + damp[3], damp[2] - damp[3]);
            s0[j] = input + 0.5 * (a + c) * gains[0];
            s1[j] = input + 0.5 * (b + d) * gains[1];
            s2[j] = input + 0.5 * (a - c) * gains[2];
            s3[j] = input + 0.5 * (b - d) * gains[3];
            ls[j] += wet * (damp[0] + damp[2]);
            rs[j] += wet * (damp[1] + damp[3]);
        }
        t += run;
        pre_pos = (pre_pos + run) % pre;
        for i in 0..4 {
            pos[i] = (pos[i] + run) % lens[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impulse_rings_then_decays_and_stays_finite() {
        let sr = 44_100;
        let mut l = vec![0f32; sr as usize * 3];
        let mut r = l.clone();
        l[0] = 1.0;
        r[0] = 1.0;
        add_room(&mut l, &mut r, sr, 1.2, 0.5);
        let energy = |x: &[f32]| x.iter().map(|s| s * s).sum::<f32>();
        let early = energy(&l[1000..sr as usize / 4]);
        let late = energy(&l[2 * sr as usize..]);
        assert!(early > 1e-4, "no reverb: {early}");
        // 60 dB in 1.2 s: two seconds on, the tail is far quieter.
        assert!(late < early * 1e-3, "{late} vs {early}");
        assert!(l.iter().chain(&r).all(|s| s.is_finite()));
        // Decorrelated sides: a room, not a mono echo.
        assert_ne!(l[5000], r[5000]);
    }
}
