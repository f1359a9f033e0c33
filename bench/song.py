#!/usr/bin/env python3
"""Time whole songs through POST /api/songs/ against a running host (`make up`).

Prints each stage's time and the total for several themes, genres and durations, and
Whisper base's word recall on the vocal stem and on the final mix (the vocal should sit on
top: the mix's recall at least 0.8x the stem's). Seeds are fresh unless SEED is set, so the
song cache does not answer.

    python3 bench/song.py                  # the default cases
    BASE=http://127.0.0.1:3000 SEED=7 python3 bench/song.py
"""
import json
import os
import random
import re
import time
import urllib.request
from collections import Counter

BASE = os.environ.get("BASE", "http://127.0.0.1:3000")
CASES = [
    ("a long drive home after a summer festival", "country", 60),
    ("neon lights and a last dance", "electronic", 60),
    ("the first snow in a quiet town", "folk", 30),
    ("getting back up after a fall", "rock", 60),
]


def post(path, body, headers=None):
    req = urllib.request.Request(
        BASE + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=900) as r:
        return json.load(r)


def words(text):
    return re.findall(r"[a-z']+", text.lower())


def recall(lyrics, url):
    heard = post("/api/transcribe/", {"audio_url": url})["transcribed_text"]
    sung = Counter(words("\n".join(l for l in lyrics.splitlines() if not l.rstrip().endswith(":"))))
    got = Counter(words(heard))
    return sum(min(c, got[w]) for w, c in sung.items()) / max(1, sum(sung.values()))


def main():
    print(f"{'genre':<11} {'dur':>4} {'lyrics':>7} {'instr':>6} {'vocals':>7} {'mix':>5} {'total':>6}  recall stem/mix")
    for theme, genre, duration in CASES:
        seed = int(os.environ.get("SEED", random.randrange(1 << 40)))
        t = time.perf_counter()
        job = post("/api/songs/", {"input_text": theme, "genre": genre, "duration": duration,
                                   "seed": seed}, {"prefer": "wait=600"})
        total = time.perf_counter() - t
        if job.get("status") != "succeeded":
            print(f"{genre:<11} {duration:>4} failed: {job.get('error')}")
            continue
        ms = {s["name"]: s["ms"] / 1000 for s in job["stages"]}
        out = job["output"]
        stem, mix = recall(out["lyrics"], out["vocals_url"]), recall(out["lyrics"], out["mix_url"])
        print(f"{genre:<11} {duration:>4} {ms.get('lyrics', 0):>6.1f}s {ms['instrumental']:>5.1f}s "
              f"{ms['vocals']:>6.1f}s {ms['mix']:>4.1f}s {total:>5.1f}s  {stem:.2f}/{mix:.2f}"
              f" ({mix / max(stem, 1e-9):.2f}x)")


if __name__ == "__main__":
    main()
