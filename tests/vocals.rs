//! `/api/generate-vocals/` end to end: the real component writing a melody and singing it with
//! the installed Piper voice through the host's `tts` graph, checked by independent ears:
//! aubio's pitch tracker and onset detector against the score, and Whisper base (the
//! transcribe endpoint) for the words.

use http::{Method, StatusCode};
use midly::{MidiMessage, Smf, TrackEventKind};
use songforge_audio::{Audio, SampleFormat, decode, encode_wav};
use songforge_e2e::*;

/// A verse and a chorus of plain, everyday words.
const LYRICS: &str = "Verse 1:\nI walked along the river side\nThe morning sun was warm and bright\n\n\
Chorus:\nHold me close and never let me go\nThis is the only home I know";

/// The voice, Basic Pitch and Whisper base (for the word check), on the CPU.
fn voice_config(state: &std::path::Path, models: std::path::PathBuf) -> songforge::ServerConfig {
    config_with_graphs(
        state,
        "[wasi_nn.graphs.tts]\nengine = \"piper\"\nmodel = \"piper-en-us-joe-medium\"\ntarget = \"cpu\"\n\n\
         [wasi_nn.graphs.whisper]\nengine = \"whisper\"\nmodel = \"whisper-base\"\ntarget = \"cpu\"\n\n\
         [wasi_nn.graphs.pitch]\nengine = \"basic-pitch\"\nmodel = \"basic-pitch\"\ntarget = \"cpu\"\n",
        models,
    )
}

struct Sung {
    midi: f64,
    start: f64,
    dur: f64,
}

fn notes_of(j: &serde_json::Value) -> Vec<Sung> {
    j["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| Sung {
            midi: n["midi"].as_f64().unwrap(),
            start: n["start_s"].as_f64().unwrap(),
            dur: n["dur_s"].as_f64().unwrap(),
        })
        .collect()
}

/// Share of aubio's voiced pitch frames inside notes (60 ms after the start to 30 ms before
/// the end) that lie within 50 cents of the note.
fn in_tune_share<'a>(wav: impl Into<Wav<'a>>, notes: &[Sung]) -> (f64, usize) {
    let text = aubio("aubiopitch", &["-p", "yin", "-H", "256", "-s", "-50"], wav);
    let (mut good, mut total) = (0usize, 0usize);
    for line in text.lines() {
        let mut it = line
            .split_whitespace()
            .map(|v| v.parse::<f64>().unwrap_or(0.0));
        let (t, hz) = (it.next().unwrap_or(0.0), it.next().unwrap_or(0.0));
        if hz <= 0.0 {
            continue;
        }
        let Some(n) = notes
            .iter()
            .find(|n| t >= n.start + 0.06 && t <= n.start + n.dur - 0.03)
        else {
            continue;
        };
        let target = 440.0 * 2f64.powf((n.midi - 69.0) / 12.0);
        total += 1;
        if (1200.0 * (hz / target).log2()).abs() <= 50.0 {
            good += 1;
        }
    }
    (good as f64 / total.max(1) as f64, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_request_is_sung_in_tune_on_time_and_understood() {
    let state = scratch_dir("vocals-seed");
    let server = start(voice_config(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let body = serde_json::json!({"lyrics": LYRICS, "genre": "pop", "seed": 8});
    let r = http.post_json("/api/generate-vocals/", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["success"], true);
    assert_eq!(j["format"], "wav");
    assert_eq!(j["engine"], "piper-singer");
    assert_eq!(j["pronunciation"], "cmudict");
    assert_eq!(j["arrangement_source"], "genre-preset");
    let url = j["url"].as_str().unwrap();
    assert!(
        url.starts_with("/media/vocals_") && url.ends_with(".wav"),
        "{url}"
    );
    let notes = notes_of(&j);
    // "I walked a-long the ri-ver side" … 8 + 8 + 9 + 8 syllables.
    assert_eq!(notes.len(), 33, "{}", j["notes"]);
    for w in notes.windows(2) {
        assert!(w[0].start + w[0].dur <= w[1].start + 2e-4, "notes overlap");
    }
    let low = j["range"]["low"].as_f64().unwrap();
    let high = j["range"]["high"].as_f64().unwrap();
    assert!(notes.iter().all(|n| (low..=high).contains(&n.midi)));

    // The WAV: 44.1 kHz mono, as long as the song, peak at −1 dBFS or below.
    let wav = http.get(url).await;
    assert_eq!(wav.status, StatusCode::OK);
    let audio = decode(&wav.body, None).expect("decode the vocal");
    assert_eq!(audio.sample_rate, 44_100);
    assert_eq!(audio.channel_count(), 1);
    assert!((audio.duration_s() - j["duration"].as_f64().unwrap()).abs() < 0.01);
    assert!(audio.sample_peak() <= 0.9, "peak {}", audio.sample_peak());
    let last = notes.last().unwrap();
    assert!(audio.duration_s() >= last.start + last.dur);

    // The score as MIDI: one note-on per sung note.
    let midi = http.get(j["score_url"].as_str().unwrap()).await;
    assert_eq!(midi.status, StatusCode::OK);
    let smf = Smf::parse(&midi.body).expect("the score parses as MIDI");
    let ons = smf.tracks[0]
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                TrackEventKind::Midi {
                    message: MidiMessage::NoteOn { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(ons, notes.len());

    // In tune: aubio's pitch tracker against the score.
    let (share, frames) = in_tune_share(&wav.body, &notes);
    assert!(frames > 500, "only {frames} voiced frames inside notes");
    assert!(
        share >= 0.8,
        "{:.1}% of voiced frames within 50 cents",
        share * 100.0
    );

    // On time: aubio's onset detector finds an attack within 50 ms of nearly every note (a
    // legato join between two voiced syllables can pass without an attack it can see).
    let onsets: Vec<f64> = aubio("aubioonset", &[], &wav.body)
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let on_time = notes
        .iter()
        .filter(|n| onsets.iter().any(|o| (o - n.start).abs() <= 0.05))
        .count();
    assert!(
        on_time as f64 >= 0.85 * notes.len() as f64,
        "{on_time} of {} notes have an onset within 50 ms",
        notes.len()
    );

    // Understood: Whisper base hears the words of the sung part (the track around it is
    // silence, which Whisper is known to fill with repeats, so it hears the sung span).
    let first = notes.first().unwrap();
    let (a, b) = (
        ((first.start - 0.5).max(0.0) * 44_100.0) as usize,
        (((last.start + last.dur + 0.5) * 44_100.0) as usize).min(audio.frames()),
    );
    let sung = Audio {
        sample_rate: audio.sample_rate,
        channels: vec![audio.channels[0][a..b].to_vec()],
    };
    let clip = http
        .upload_wav(encode_wav(&sung, SampleFormat::Int16).expect("encode"))
        .await;
    let t = http
        .post_json("/api/transcribe/", &serde_json::json!({"audio_url": clip}))
        .await;
    assert_eq!(t.status, StatusCode::OK, "{:?}", t.body);
    let heard = t.json()["transcribed_text"].as_str().unwrap().to_string();
    let reference = sung_lyrics(LYRICS);
    let wer = word_error_rate(&reference, &heard);
    eprintln!(
        "in tune: {:.1}% of {frames} frames; on time: {on_time}/{} notes; WER {:.2}: {heard:?}",
        share * 100.0,
        notes.len(),
        wer
    );
    assert!(wer <= 0.35, "WER {wer:.2}: heard {heard:?}");

    // The whole track, silences and all: the transcriber leaves the silence out, so no text is
    // invented there (a repeat of the first line, before it did) and the words still come
    // through.
    let whole = http
        .post_json("/api/transcribe/", &serde_json::json!({"audio_url": url}))
        .await;
    assert_eq!(whole.status, StatusCode::OK, "{:?}", whole.body);
    let w = whole.json();
    let sung_end = last.start + last.dur;
    for seg in w["segments"].as_array().cloned().unwrap_or_default() {
        let (s0, s1) = (seg["start"].as_f64().unwrap(), seg["end"].as_f64().unwrap());
        assert!(
            s0 >= first.start - 1.0 && s1 <= sung_end + 1.5,
            "segment {seg} outside the sung span {:.2}-{sung_end:.2}",
            first.start
        );
    }
    let heard_whole = w["transcribed_text"].as_str().unwrap().to_string();
    let wer_whole = word_error_rate(&reference, &heard_whole);
    eprintln!(
        "whole track: WER {wer_whole:.2}: {heard_whole:?}; skipped {}",
        w["skipped_segments"]
    );
    assert!(
        wer_whole <= 0.35,
        "WER {wer_whole:.2}: heard {heard_whole:?}"
    );

    // The same seed sings the same samples.
    let again = http.post_json("/api/generate-vocals/", &body).await;
    assert_eq!(again.status, StatusCode::OK);
    let again_url = again.json()["url"].as_str().unwrap().to_string();
    assert_ne!(again_url, url);
    assert!(
        http.get(&again_url).await.body == wav.body,
        "same seed, different audio"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vocals_follow_the_instrumentals_map_or_one_sent_inline() {
    let state = scratch_dir("vocals-map");
    let server = start(voice_config(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let r = http
        .post_json(
            "/api/generate-instrumental/",
            &serde_json::json!({"lyrics": LYRICS, "genre": "rock", "bpm": 100, "key": "E minor",
                                "seed": 3, "stems": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let inst = r.json();
    let r = http
        .post_json(
            "/api/generate-vocals/",
            &serde_json::json!({"lyrics": LYRICS, "instrumental_url": inst["url"], "seed": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["arrangement_source"], "instrumental");
    assert_eq!(j["bpm"], 100.0);
    assert_eq!(j["key"], "E minor");
    assert!((j["duration"].as_f64().unwrap() - inst["duration"].as_f64().unwrap()).abs() < 0.05);
    // Each line starts on its section's bars: the verse's first line on the verse's downbeat.
    let sections = inst["arrangement"]["sections"].as_array().unwrap();
    let verse = sections.iter().find(|s| s["name"] == "Verse 1").unwrap();
    let chorus = sections.iter().find(|s| s["name"] == "Chorus").unwrap();
    let phrase_starts: Vec<f64> = j["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["phrase_start"] == true)
        .map(|n| n["start_s"].as_f64().unwrap())
        .collect();
    assert!((phrase_starts[0] - verse["start_s"].as_f64().unwrap()).abs() < 1e-3);
    assert!((phrase_starts[2] - chorus["start_s"].as_f64().unwrap()).abs() < 1e-3);
    // E minor: every note in the scale.
    let scale = [4, 6, 7, 9, 11, 0, 2];
    for n in notes_of(&j) {
        assert!(
            scale.contains(&((n.midi as i64) % 12)),
            "{} is outside E minor",
            n.midi
        );
    }

    // A map sent inline: a slow 3/4 in D major.
    let map = serde_json::json!({
        "bpm": 84, "key": "D major", "time_signature": "3/4",
        "sections": [{"name": "Intro", "start_bar": 0, "bars": 2},
                     {"name": "Verse", "kind": "verse", "start_bar": 2, "bars": 8}],
        "chords": [{"bar": 0, "beat": 1, "symbol": "D"}, {"bar": 4, "beat": 1, "symbol": "G"},
                   {"bar": 6, "beat": 1, "symbol": "A7"}]
    });
    let r = http
        .post_json(
            "/api/generate-vocals/",
            &serde_json::json!({"lyrics": "Hold me close\nThis is home", "arrangement": map, "seed": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["arrangement_source"], "request");
    let notes = notes_of(&j);
    // Bar 2 of 3/4 at 84 BPM starts at 2 × 3 × 60/84 s.
    assert!(
        (notes[0].start - 6.0 * 60.0 / 84.0).abs() < 1e-3,
        "{}",
        notes[0].start
    );
    let d_major = [2, 4, 6, 7, 9, 11, 1];
    assert!(
        notes
            .iter()
            .all(|n| d_major.contains(&((n.midi as i64) % 12)))
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_fail_cleanly_and_write_nothing() {
    let state = scratch_dir("vocals-errors");
    let server = start(voice_config(&state, models_dir())).await;
    let http = Http::new(server.addr);
    let long = "Hold me close and never let me go this is the only home I know\n".repeat(4);
    let tight_map = serde_json::json!({"bpm": 120, "key": "C",
        "sections": [{"name": "Verse", "start_bar": 0, "bars": 2}]});
    let cases = [
        (
            serde_json::json!({"genre": "pop"}),
            StatusCode::BAD_REQUEST,
            "lyrics",
        ),
        (
            serde_json::json!({"lyrics": "  "}),
            StatusCode::BAD_REQUEST,
            "lyrics",
        ),
        (
            serde_json::json!({"lyrics": 5}),
            StatusCode::BAD_REQUEST,
            "lyrics",
        ),
        (
            serde_json::json!({"lyrics": "x", "engine": "opera"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "engine",
        ),
        (
            serde_json::json!({"lyrics": "x", "engine": "diffsinger"}),
            StatusCode::SERVICE_UNAVAILABLE,
            "engine",
        ),
        (
            serde_json::json!({"lyrics": "x", "bpm": 300}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bpm",
        ),
        (
            serde_json::json!({"lyrics": "x", "key": "H minor"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "key",
        ),
        (
            serde_json::json!({"lyrics": "x", "voice": "soprano"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "voice",
        ),
        (
            serde_json::json!({"lyrics": "x", "melody_audio": "/media/upload_0000000000000000.wav"}),
            StatusCode::NOT_FOUND,
            "melody_audio",
        ),
        (
            serde_json::json!({"lyrics": "x", "melody_audio": "hum.wav"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "melody_audio",
        ),
        (
            serde_json::json!({"lyrics": "x", "melody_audio": "/media/a.wav", "arrangement": tight_map}),
            StatusCode::BAD_REQUEST,
            "melody_audio",
        ),
        (
            serde_json::json!({"lyrics": "x", "instrumental_url": "/media/instrumental_0000000000000000.wav"}),
            StatusCode::NOT_FOUND,
            "instrumental_url",
        ),
        (
            serde_json::json!({"lyrics": "x", "instrumental_url": "song.wav"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "instrumental_url",
        ),
        (
            serde_json::json!({"lyrics": "x", "arrangement": tight_map, "instrumental_url": "/media/a.wav"}),
            StatusCode::BAD_REQUEST,
            "arrangement",
        ),
        (
            serde_json::json!({"lyrics": "x", "arrangement": {"bpm": 120}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "arrangement",
        ),
        (
            serde_json::json!({"lyrics": "x", "arrangement": {"bpm": 120, "key": "C",
            "sections": [{"name": "Verse", "start_bar": 0, "bars": 4}],
            "chords": [{"bar": 0, "symbol": "Q#9"}]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "arrangement.chords[0].symbol",
        ),
        (
            serde_json::json!({"lyrics": "x", "arrangement": tight_map, "bpm": 90}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bpm",
        ),
        (
            serde_json::json!({"lyrics": long, "arrangement": tight_map}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "lyrics",
        ),
        (
            serde_json::json!({"lyrics": "x", "tempo": 120}),
            StatusCode::BAD_REQUEST,
            "tempo",
        ),
    ];
    for (body, status, field) in cases {
        let r = http.post_json("/api/generate-vocals/", &body).await;
        expect_error(&r, status, Some(field));
        if field == "lyrics" && status == StatusCode::UNPROCESSABLE_ENTITY {
            let message = r.json()["error"]["message"].as_str().unwrap().to_string();
            assert!(message.contains("bars"), "{message}");
        }
    }
    let r = http.get("/api/generate-vocals/").await;
    expect_error(&r, StatusCode::METHOD_NOT_ALLOWED, None);
    let r = http
        .send(
            Method::POST,
            "/api/generate-vocals/",
            &[("content-type", "text/plain")],
            "la la",
        )
        .await;
    expect_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    server.shutdown().await;
    let keys = stored_keys(&state);
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_voice_installed_the_answer_says_how_to_install_it() {
    let state = scratch_dir("vocals-no-voice");
    let empty = scratch_dir("vocals-no-models");
    let server = start(voice_config(&state, empty.to_path_buf())).await;
    let http = Http::new(server.addr);
    let r = http
        .post_json(
            "/api/generate-vocals/",
            &serde_json::json!({"lyrics": "Song lyrics", "genre": "pop"}),
        )
        .await;
    expect_error(&r, StatusCode::SERVICE_UNAVAILABLE, Some("voice"));
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("songforge models pull piper-en-us-joe-medium"),
        "{message}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hummed_melody_comes_back_as_its_notes_and_is_sung_to() {
    let state = scratch_dir("vocals-hum");
    let server = start(voice_config(&state, models_dir())).await;
    let http = Http::new(server.addr);
    // A3 C4 D4 E4 D4, as a baritone might hum them.
    let tune = HUM_TUNE;
    let hum = http.upload_wav(hum_wav(&tune, 4.0)).await;
    let r = http
        .post_json(
            "/api/generate-vocals/",
            &serde_json::json!({"lyrics": "Hold me close and stay", "melody_audio": hum, "seed": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["arrangement_source"], "melody_audio");
    let heard = j["heard_notes"].as_array().expect("heard_notes");
    assert_eq!(heard.len(), tune.len(), "{heard:?}");
    for (h, (midi, start, end)) in heard.iter().zip(tune) {
        assert_eq!(h["midi"].as_f64().unwrap(), midi, "{h}");
        assert!(
            (h["start_s"].as_f64().unwrap() - start).abs() <= 0.05,
            "{h}"
        );
        assert!((h["end_s"].as_f64().unwrap() - end).abs() <= 0.08, "{h}");
    }
    // One syllable a hummed note, on its time; D4 and E4 are above the baritone's range, so the
    // tune is sung an octave down, every interval kept.
    let notes = notes_of(&j);
    assert_eq!(notes.len(), 5);
    for (n, (midi, start, _)) in notes.iter().zip(tune) {
        assert_eq!(n.midi, midi - 12.0);
        assert!((n.start - start).abs() <= 0.05);
    }
    assert!((j["duration"].as_f64().unwrap() - 4.0).abs() < 0.01);
    let wav = http.get(j["url"].as_str().unwrap()).await;
    let (share, frames) = in_tune_share(&wav.body, &notes);
    assert!(
        frames > 50 && share >= 0.8,
        "{:.1}% of {frames} frames in tune",
        share * 100.0
    );

    // The same as a multipart form with the recording attached.
    let boundary = "songforge-hum";
    let mut body = Vec::new();
    for (name, value) in [("lyrics", "Hold me close and stay"), ("seed", "2")] {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"melody_audio\"; filename=\"hum.wav\"\r\nContent-Type: audio/wav\r\n\r\n").as_bytes());
    body.extend(hum_wav(&tune, 4.0));
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let r = http
        .send(
            Method::POST,
            "/api/generate-vocals/",
            &[("content-type", content_type.as_str())],
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let again = r.json();
    assert_eq!(again["heard_notes"], j["heard_notes"]);
    assert_eq!(again["notes"], j["notes"]);
    server.shutdown().await;
}

/// The host's `singer` graph on a voicebank of the real OpenUtau layout (the tests write a
/// tiny one whose vocoder sings a sine at f0, loud on vowels, silent on `SP`).
fn diffsinger_config(state: &std::path::Path) -> songforge::ServerConfig {
    // Inside the test's state dir, so it lives (and goes) with it.
    let dir = state.join("voicebank");
    std::fs::create_dir_all(&dir).expect("voicebank dir");
    let bank = tiny_voicebank(&dir);
    config_with_graphs(
        state,
        &format!(
            "[wasi_nn.graphs.singer]\nengine = \"diffsinger\"\nmodel = \"tiny\"\npath = {:?}\ntarget = \"cpu\"\n",
            bank.display().to_string()
        ),
        models_dir(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diffsinger_voicebank_sings_the_score_on_pitch_and_on_the_grid() {
    let state = scratch_dir("vocals-diffsinger");
    let server = start(diffsinger_config(&state)).await;
    let http = Http::new(server.addr);
    // `auto` picks the voicebank when the host serves one.
    let body = serde_json::json!({"lyrics": LYRICS, "genre": "pop", "seed": 8});
    let r = http.post_json("/api/generate-vocals/", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    assert_eq!(j["engine"], "diffsinger");
    assert_eq!(j["voice"], "Tiny Test Singer/tiny");
    let notes = notes_of(&j);
    assert_eq!(notes.len(), 33, "the same score as the Piper singer's");
    let wav = http.get(j["url"].as_str().unwrap()).await;
    let audio = decode(&wav.body, None).expect("decode the vocal");
    assert_eq!((audio.sample_rate, audio.channel_count()), (44_100, 1));
    assert!((audio.duration_s() - j["duration"].as_f64().unwrap()).abs() < 0.01);
    assert!(audio.sample_peak() <= 0.9);

    // In tune by aubio, and every note's vowel sounding from its start: the score, the graph
    // and the timeline agree.
    let (share, frames) = in_tune_share(&wav.body, &notes);
    assert!(frames > 500, "only {frames} voiced frames inside notes");
    assert!(share >= 0.9, "{:.1}% in tune", share * 100.0);
    let x = &audio.channels[0];
    let peak = audio.sample_peak();
    for n in &notes {
        let (a, b) = (
            ((n.start + 0.03) * 44_100.0) as usize,
            ((n.start + n.dur.min(0.1)) * 44_100.0) as usize,
        );
        let loud = x[a..b].iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(
            loud > 0.6 * peak,
            "note at {:.2} s is quiet ({loud})",
            n.start
        );
    }

    // Same seed, same song; an unknown speaker is named.
    let again = http.post_json("/api/generate-vocals/", &body).await;
    let wav2 = http.get(again.json()["url"].as_str().unwrap()).await;
    assert_eq!(wav.body, wav2.body);
    let r = http
        .post_json(
            "/api/generate-vocals/",
            &serde_json::json!({"lyrics": "Song lyrics", "engine": "diffsinger", "voice": "nobody"}),
        )
        .await;
    expect_error(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("voice"));
    server.shutdown().await;
}
