#!/usr/bin/env python3
"""Transcription benchmark: SongForge's Whisper against faster-whisper, side by side.

Same clips, same CTranslate2 weights (the installed whisper-tiny-en and whisper-base), same
thread count, in one run, best of RUNS each:
  - faster-whisper (installed by this script into a throwaway venv), float32 on the CPU;
  - our engine alone (the `transcribe` example of engines/whisper, no HTTP, no wasm);
  - our endpoint: POST /api/transcribe/ on a running host (decode + resample in the wasm
    component, then the `whisper` graph).
Clips: the four short test sentences (3-5 s, one 30 s window each) and a 62 s long-form clip
made of them with pauses (three windows, seeking by timestamps). Prints the real-time factor
(processing seconds per audio second) and ours/theirs; the target is within 1.5x.

Usage: python3 bench/transcribe.py [http://127.0.0.1:3000]
  (needs a host from `make up`, and sox; THREADS defaults to the core count, RUNS to 3)
"""
import json, os, subprocess, sys, tempfile, textwrap, time, urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
RUNS = int(os.environ.get("RUNS", "3"))
THREADS = int(os.environ.get("THREADS", os.cpu_count() or 1))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STORE = os.environ.get("SONGFORGE_MODELS", os.path.join(ROOT, "models", "store"))
SPEECH = os.path.join(ROOT, "tests", "fixtures", "speech")
TMP = tempfile.mkdtemp(prefix="songforge-asrbench-")
EXAMPLE = os.path.join(ROOT, "target", "debug", "examples", "transcribe")

PEER = textwrap.dedent("""
    import json, sys, time
    from faster_whisper import WhisperModel
    model_dir, threads, runs, beam = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    m = WhisperModel(model_dir, device="cpu", compute_type="float32", cpu_threads=threads)
    out = {}
    for f in sys.argv[5:]:
        best, text = 1e9, ""
        for _ in range(runs):
            t = time.perf_counter()
            segs, info = m.transcribe(f, beam_size=beam, language="en")
            text = "".join(s.text for s in segs).strip()
            best = min(best, time.perf_counter() - t)
        out[f] = [best, text]
    print(json.dumps(out))
""")


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def duration(path):
    return float(run("soxi", "-D", path).stdout)


def ours_engine(model_dir, wav, beam):
    best, text = 1e9, ""
    for _ in range(RUNS):
        r = run(EXAMPLE, model_dir, wav, json.dumps({"beam_size": beam, "language": "en"}),
                env={**os.environ, "THREADS": str(THREADS), "RUST_BACKTRACE": "0"})
        secs = float(r.stderr.split("transcribe ")[1].split("s,")[0])
        best, text = min(best, secs), json.loads(r.stdout)["text"]
    return best, text


def ours_http(graph_model, wav, beam):
    body = open(wav, "rb").read()
    best, text = 1e9, ""
    for _ in range(RUNS):
        req = urllib.request.Request(
            f"{BASE}/api/transcribe?beam_size={beam}&language=en",
            data=body, headers={"content-type": "audio/wav"})
        t = time.perf_counter()
        j = json.load(urllib.request.urlopen(req, timeout=900))
        best, text = min(best, time.perf_counter() - t), j["transcribed_text"]
        assert j["model"] == graph_model, j
    return best, text


def main():
    venv = os.path.join(TMP, "venv")
    run(sys.executable, "-m", "venv", venv)
    run(os.path.join(venv, "bin", "pip"), "install", "-q", "faster-whisper==1.2.1")
    peer_py = os.path.join(TMP, "peer.py")
    open(peer_py, "w").write(PEER)
    clips = [os.path.join(SPEECH, f"clip{i}.wav") for i in range(1, 5)]
    long_clip = os.path.join(TMP, "long.wav")
    parts = []
    for i in range(3):
        for c in clips:
            parts += [c, os.path.join(TMP, "pause.wav")]
    run("sox", "-n", "-r", "16000", "-c", "1", "-b", "16", os.path.join(TMP, "pause.wav"), "trim", "0", "1.0")
    run("sox", *parts, long_clip)
    clips.append(long_clip)
    total = {c: duration(c) for c in clips}
    print(f"threads {THREADS}, best of {RUNS}; RTF = seconds of processing per second of audio\n")
    print(f"{'model':17} {'beam':>4} {'clips':>6} {'audio s':>8} {'faster-whisper':>15} {'ours engine':>12} "
          f"{'ratio':>6} {'ours HTTP':>10} {'ratio':>6}")
    # The endpoint serves whisper-base as `whisper`; tiny.en is measured as engine only.
    for model, graph in (("whisper-tiny-en", None), ("whisper-base", "whisper-base")):
        model_dir = os.path.join(STORE, model)
        for beam in (1, 5):
            for label, subset in (("short", clips[:4]), ("long", clips[4:])):
                peer = json.loads(run(os.path.join(venv, "bin", "python"), peer_py, model_dir,
                                      str(THREADS), str(RUNS), str(beam), *subset).stdout)
                audio = sum(total[c] for c in subset)
                theirs = sum(peer[c][0] for c in subset)
                eng = [ours_engine(model_dir, c, beam) for c in subset]
                ours = sum(t for t, _ in eng)
                line = (f"{model:17} {beam:>4} {label:>6} {audio:>8.1f} {theirs / audio:>15.3f} "
                        f"{ours / audio:>12.3f} {ours / theirs:>6.2f}")
                if graph:
                    http = [ours_http(graph, c, beam) for c in subset]
                    h = sum(t for t, _ in http)
                    line += f" {h / audio:>10.3f} {h / theirs:>6.2f}"
                print(line, flush=True)
                for c, (_, text) in zip(subset, eng):
                    if text != peer[c][1]:
                        print(f"    text differs on {os.path.basename(c)}: ours {text!r} / theirs {peer[c][1]!r}")


if __name__ == "__main__":
    main()
