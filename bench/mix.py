#!/usr/bin/env python3
"""Mixer benchmark: SongForge's /api/mix-audio/ against the original design's pydub + FFmpeg.

One run, side by side, on the same generated 3-minute stereo instrumental and mono vocal:
  songforge   POST /api/mix-audio/ on a running host (upload excluded; full master chain:
              vocal EQ/compression, ducking, bus EQ/compression, -14 LUFS, -1 dBTP limiter)
  pydub       the seed's mixer: AudioSegment overlay + peak normalise, export WAV
              (no loudness target, no limiter: less work than ours)
  pydub+ffmpeg  the same master targets done the FFmpeg way: pydub overlay, then
              ffmpeg's loudnorm (I=-14, TP=-1) on export
Prints wall times, output loudness (measured with ffmpeg's ebur128 filter) and ratios.

Usage: python3 bench/mix.py [http://127.0.0.1:3000]   (needs: pip install pydub; apt ffmpeg sox)
"""
import json, os, re, subprocess, sys, tempfile, time, urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
RUNS = int(os.environ.get("RUNS", "3"))


def sh(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True)


def loudness(path):
    out = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", path, "-af", "ebur128=peak=true", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    i = re.findall(r"I:\s+(-?[\d.]+) LUFS", out)[-1]
    tp = re.findall(r"Peak:\s+(-?[\d.]+) dBFS", out)[-1]
    return float(i), float(tp)


def upload(path):
    with open(path, "rb") as f:
        req = urllib.request.Request(f"{BASE}/media/", data=f.read(), headers={"content-type": "audio/wav"})
    return json.load(urllib.request.urlopen(req))["url"]


def best(fn):
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main():
    from pydub import AudioSegment, effects

    tmp = tempfile.mkdtemp()
    inst, voc = os.path.join(tmp, "inst.wav"), os.path.join(tmp, "voc.wav")
    sh("sox", "-n", "-r", "44100", "-c", "2", "-b", "16", inst, "synth", "180", "pluck", "C2", "pluck", "E3", "tremolo", "2", "40", "gain", "-8")
    sh("sox", "-n", "-r", "44100", "-c", "1", "-b", "16", voc, "synth", "180", "sine", "220-440", "tremolo", "0.5", "90", "gain", "-10")
    inst_url, voc_url = upload(inst), upload(voc)

    def songforge():
        body = json.dumps({"instrumental_url": inst_url, "vocals_url": voc_url, "genre": "pop"}).encode()
        req = urllib.request.Request(f"{BASE}/api/mix-audio/", data=body, headers={"content-type": "application/json"})
        return json.load(urllib.request.urlopen(req, timeout=600))

    def pydub_plain():
        out = os.path.join(tmp, "pydub.wav")
        a, b = AudioSegment.from_file(inst), AudioSegment.from_file(voc)
        effects.normalize(a.overlay(b), headroom=1.0).export(out, format="wav")
        return out

    def pydub_ffmpeg():
        out = os.path.join(tmp, "pydub_ffmpeg.wav")
        a, b = AudioSegment.from_file(inst), AudioSegment.from_file(voc)
        a.overlay(b).export(out, format="wav", parameters=["-af", "loudnorm=I=-14:TP=-1:LRA=11", "-ar", "44100"])
        return out

    t_sf, res = best(songforge)
    mix_path = os.path.join(tmp, "sf.wav")
    urllib.request.urlretrieve(BASE + res["url"], mix_path)
    t_pd, pd_path = best(pydub_plain)
    t_pf, pf_path = best(pydub_ffmpeg)
    print(f"3-minute stereo instrumental + mono vocal, best of {RUNS}:")
    for name, t, path in [("songforge /api/mix-audio/", t_sf, mix_path), ("pydub overlay+normalize", t_pd, pd_path),
                          ("pydub + ffmpeg loudnorm", t_pf, pf_path)]:
        i, tp = loudness(path)
        print(f"  {name:28s} {t*1000:7.0f} ms   {i:6.1f} LUFS  {tp:5.1f} dBTP")
    print(f"  speed vs pydub overlay+normalize: {t_pd / t_sf:.2f}x;  vs pydub + ffmpeg loudnorm: {t_pf / t_sf:.2f}x")


if __name__ == "__main__":
    main()
