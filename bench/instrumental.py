#!/usr/bin/env python3
"""Arranger benchmark: a 3-minute song from /api/generate-instrumental/, end to end over HTTP.

Against a running host (`make up`), best of RUNS per case: compose, render every stem with the
configured soundfont, encode, store. Prints wall time and real-time factor (seconds of work
per second of audio). Target: under 5 s for 3 minutes on a 2-core machine (RTF <= 0.03).

Usage: python3 bench/instrumental.py [http://127.0.0.1:3000]
"""
import json, os, sys, time, urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
RUNS = int(os.environ.get("RUNS", "3"))
LYRICS = "\n\n".join([
    "Verse 1:\n" + "\n".join(["line"] * 4),
    "Chorus:\n" + "\n".join(["hook"] * 4),
    "Verse 2:\n" + "\n".join(["line"] * 4),
    "Chorus:\n" + "\n".join(["hook"] * 4),
    "Bridge:\n" + "\n".join(["turn"] * 4),
    "Chorus:\n" + "\n".join(["hook"] * 4),
])


def post(body):
    req = urllib.request.Request(BASE + "/api/generate-instrumental/", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=600))


def main():
    print(f"{'case':<34} {'best s':>7} {'audio s':>8} {'RTF':>7}  target RTF <= 0.03")
    for genre, stems in [("pop", True), ("pop", False), ("rock", True), ("hip hop", True), ("jazz", True)]:
        times, r = [], None
        for seed in range(RUNS):
            t = time.perf_counter()
            r = post({"lyrics": LYRICS, "genre": genre, "duration": 180, "seed": seed, "stems": stems})
            times.append(time.perf_counter() - t)
        best = min(times)
        case = f"{genre}, {'4 stems + mix' if stems else 'mix only'} ({r['instruments']})"
        rtf = best / r["duration"]
        print(f"{case:<34} {best:7.2f} {r['duration']:8.1f} {rtf:7.4f}  {'met' if rtf <= 0.03 else 'NOT met'}")


if __name__ == "__main__":
    main()
