#!/usr/bin/env python3
"""The seed requests of all six endpoints against two running copies of the app (e.g.
`make up` on :3000 and stock `spin up` with `make serve-nn` on :3002), side by side: the
status, whether the JSON has the same fields, and the length of the audio each returns.

    python3 tests/stock-spin/compare.py http://127.0.0.1:3000 http://127.0.0.1:3002

Standard library only. Exits 1 when the two disagree on a status, a field or a length (by
more than 0.05 s).
"""
import json
import struct
import sys
import urllib.request
import uuid
from pathlib import Path

LYRICS = (
    "Verse 1:\nI walk along the river in the rain\nThe city lights are calling out my name\n\n"
    "Chorus:\nSummer rain, wash it all away\nSummer rain, I want you here to stay"
)
CLIP = Path(__file__).resolve().parents[1] / "fixtures/speech/clip1.wav"


def call(base, method, path, body=None, content_type="application/json"):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wav_seconds(data):
    """Duration of a RIFF/WAVE body from its fmt and data chunks (PCM or float)."""
    pos, rate, block = 12, None, None
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if tag == b"fmt ":
            _, channels, rate, _, block = struct.unpack("<HHIIH", data[pos + 8:pos + 22])
        elif tag == b"data" and rate:
            return min(size, len(data) - pos - 8) / block / rate
        pos += 8 + size + (size & 1)
    return None


def run(base):
    out = {}
    s, b = call(base, "GET", "/api/health/")
    out["health"] = (s, json.loads(b), None)
    boundary = uuid.uuid4().hex
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio_file\"; "
            f"filename=\"clip1.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode()
    form += CLIP.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    s, b = call(base, "POST", "/api/transcribe/", form, f"multipart/form-data; boundary={boundary}")
    out["transcribe"] = (s, json.loads(b), None)
    s, b = call(base, "POST", "/api/generate-lyrics/",
                {"input_text": "summer rain and first love", "genre": "pop", "seed": 5})
    out["generate-lyrics"] = (s, json.loads(b), None)
    for name, body in [
        ("generate-instrumental", {"lyrics": LYRICS, "genre": "pop", "seed": 5}),
        ("generate-vocals", {"lyrics": LYRICS, "genre": "pop", "seed": 5}),
    ]:
        if name == "generate-vocals":
            body["instrumental_url"] = out["generate-instrumental"][1].get("url")
        s, b = call(base, "POST", f"/api/{name}/", body)
        j = json.loads(b)
        audio = call(base, "GET", j["url"])[1] if "url" in j else b""
        out[name] = (s, j, wav_seconds(audio))
    s, b = call(base, "POST", "/api/mix-audio/", {
        "instrumental_url": out["generate-instrumental"][1].get("url"),
        "vocals_url": out["generate-vocals"][1].get("url"),
        "genre": "pop",
    })
    j = json.loads(b)
    out["mix-audio"] = (s, j, wav_seconds(call(base, "GET", j["url"])[1]) if "url" in j else None)
    return out


def main():
    a_base, b_base = sys.argv[1], sys.argv[2]
    a, b = run(a_base), run(b_base)
    ok = True
    print(f"| endpoint | {a_base} | {b_base} | same fields | audio s (a / b) |")
    print("|---|---|---|---|---|")
    for name in a:
        (sa, ja, da), (sb, jb, db) = a[name], b[name]
        same = sorted(ja) == sorted(jb)
        lengths = "" if da is None and db is None else f"{da or 0:.2f} / {db or 0:.2f}"
        agree = sa == sb and same and (da is None or db is None or abs(da - db) <= 0.05)
        ok &= agree
        print(f"| {name} | {sa} | {sb} | {'yes' if same else sorted(set(ja) ^ set(jb))} | {lengths} |")
    if a["transcribe"][1].get("transcribed_text") != b["transcribe"][1].get("transcribed_text"):
        print("transcripts differ:", a["transcribe"][1].get("transcribed_text"), "/",
              b["transcribe"][1].get("transcribed_text"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
