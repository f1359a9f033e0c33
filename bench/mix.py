#!/usr/bin/env python3
"""Mixer benchmark: SongForge's /api/mix-audio/ against pydub and FFmpeg, side by side.

Makes two 3-minute 44.1 kHz stereo tracks, uploads them to a running host (not timed), then
times on the same files, best of RUNS:
  (a) summing only: our POST /api/mix-audio/ with "master": false, end to end over HTTP,
      against pydub (AudioSegment.from_file x2, overlay, export WAV), installed by this
      script into a throwaway venv. Target: at least 2x faster.
  (b) the full chain: our default request (vocal EQ and compression, ducking, bus EQ and
      compression, -14 LUFS, -1 dBTP limiter) against FFmpeg doing the equivalent
      (amix, loudnorm=I=-14:TP=-1, alimiter). Target: at least 5x faster, both meeting the
      loudness and peak targets (measured with FFmpeg's ebur128 filter).

Usage: python3 bench/mix.py [http://127.0.0.1:3000]     (needs ffmpeg from apt)
"""
import json, os, re, subprocess, sys, tempfile, textwrap, time, urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
RUNS = int(os.environ.get("RUNS", "3"))
TMP = tempfile.mkdtemp(prefix="songforge-mixbench-")


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def measure(path):
    err = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", path, "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True).stderr
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", err)[-1]), float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", err)[-1])


def best(fn):
    times, result = [], None
    for _ in range(RUNS):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def post(path, body):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=900))


def main():
    venv = os.path.join(TMP, "venv")
    run(sys.executable, "-m", "venv", venv)
    run(os.path.join(venv, "bin", "pip"), "install", "-q", "pydub")
    a, b = os.path.join(TMP, "a.wav"), os.path.join(TMP, "b.wav")
    # A bass-and-chords bed and a vocal-range melody, both stereo, music-like dynamics.
    run("ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
        "aevalsrc='0.35*sin(2*PI*55*t)*(0.6+0.4*sin(2*PI*2*t))+0.15*sin(2*PI*220*t)+0.1*sin(2*PI*277*t)':s=44100:d=180",
        "-ac", "2", "-c:a", "pcm_s16le", a)
    run("ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
        "aevalsrc='0.3*sin(2*PI*(330+60*sin(2*PI*0.25*t))*t)*gt(sin(2*PI*0.25*t)\\,-0.3)':s=44100:d=180",
        "-ac", "2", "-c:a", "pcm_s16le", b)

    def upload(path):
        with open(path, "rb") as f:
            req = urllib.request.Request(BASE + "/media/", data=f.read(), headers={"content-type": "audio/wav"})
        return json.load(urllib.request.urlopen(req))["url"]

    ua, ub = upload(a), upload(b)

    pydub_script = os.path.join(TMP, "pydub_mix.py")
    with open(pydub_script, "w") as f:
        f.write(textwrap.dedent(f"""
            import time
            from pydub import AudioSegment
            t = time.perf_counter()
            AudioSegment.from_file({a!r}).overlay(AudioSegment.from_file({b!r})).export({os.path.join(TMP, 'pydub.wav')!r}, format="wav")
            print(time.perf_counter() - t)
        """))

    def ours(master):
        return post("/api/mix-audio/", {"instrumental_url": ua, "vocals_url": ub, "genre": "pop", "master": master})

    def pydub():
        return float(run(os.path.join(venv, "bin", "python"), pydub_script).stdout)

    ffmpeg_out = os.path.join(TMP, "ffmpeg.wav")

    def ffmpeg():
        run("ffmpeg", "-y", "-loglevel", "error", "-i", a, "-i", b, "-filter_complex",
            "[0][1]amix=inputs=2:normalize=0,loudnorm=I=-14:TP=-1:LRA=11,alimiter=limit=0.891:level=false",
            "-ar", "44100", "-c:a", "pcm_s16le", ffmpeg_out)

    t_sum, r_sum = best(lambda: ours(False))
    pydub_times = [pydub() for _ in range(RUNS)]
    t_pydub = min(pydub_times)
    t_full, r_full = best(lambda: ours(True))
    t_ff, _ = best(ffmpeg)
    ours_path = os.path.join(TMP, "ours.wav")
    urllib.request.urlretrieve(BASE + r_full["url"], ours_path)
    oi, otp = measure(ours_path)
    fi, ftp = measure(ffmpeg_out)

    print(f"two 3-minute 44.1 kHz stereo tracks, best of {RUNS}")
    print(f"(a) summing only:  songforge {t_sum*1000:6.0f} ms   pydub {t_pydub*1000:6.0f} ms   "
          f"=> {t_pydub / t_sum:.2f}x faster (target 2x)")
    print(f"(b) full master:   songforge {t_full*1000:6.0f} ms   ffmpeg {t_ff*1000:6.0f} ms   "
          f"=> {t_ff / t_full:.2f}x faster (target 5x)")
    print(f"    loudness/peak: songforge {oi:.1f} LUFS {otp:.1f} dBTP;  ffmpeg {fi:.1f} LUFS {ftp:.1f} dBTP "
          f"(target -14 +/-0.5 LUFS, <= -1 dBTP)")


if __name__ == "__main__":
    main()
