#!/usr/bin/env python3
"""Singer benchmark: a one-minute verse and chorus from /api/generate-vocals/, over HTTP.

Against a running host (`make up`), best of RUNS: write the melody, speak every word through
the `tts` graph (Piper on ONNX Runtime), stretch and re-pitch each syllable, resample, encode,
store. Prints wall time, the stages the component reports, and the real-time factor over the
sung minute. Target: under 10 s on a 2-core machine.

Usage: python3 bench/vocals.py [http://127.0.0.1:3000]
"""
import json, os, sys, time, urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
RUNS = int(os.environ.get("RUNS", "3"))
VERSE = [
    "I walked along the river side",
    "The morning sun was warm and bright",
    "A thousand voices in the air",
    "And every road was leading there",
    "I kept your letter in my coat",
    "And read the words that you once wrote",
]
CHORUS = [
    "Hold me close and never let me go",
    "This is the only home I know",
    "When the night is long and cold",
    "You are the hand I want to hold",
    "Hold me close and never let me go",
    "This is the only home I know",
]
LYRICS = "Verse 1:\n" + "\n".join(VERSE) + "\n\nChorus:\n" + "\n".join(CHORUS)


def post(body):
    req = urllib.request.Request(BASE + "/api/generate-vocals/", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=600))


def main():
    times, r = [], None
    for seed in range(RUNS):
        t = time.perf_counter()
        r = post({"lyrics": LYRICS, "genre": "pop", "bpm": 100, "seed": seed})
        times.append(time.perf_counter() - t)
    notes = r["notes"]
    sung = notes[-1]["start_s"] + notes[-1]["dur_s"] - notes[0]["start_s"]
    best = min(times)
    print(f"{len(notes)} notes, {sung:.1f} s sung in a {r['duration']:.1f} s track at {r['bpm']:.0f} BPM")
    print(f"stages of the last run (ms): {r['timings_ms']}")
    print(f"end to end: best {best:.2f} s of {RUNS}, RTF over the sung part {best / sung:.3f}"
          f"  target < 10 s: {'met' if best < 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
