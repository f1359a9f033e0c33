#!/usr/bin/env python3
"""Load: concurrent mixes and songs at 8, 32 and 64 clients, on a host this script starts.

For each case it prints the requests made, the wall time, throughput, the status codes, the
latency of /api/health/ polled every 50 ms by a client of its own during the run (p50, p99,
max), and the host's resident memory before and at its peak. Each mix client mixes two
uploaded stereo tracks (TRACK_SECONDS long); each song client makes a 30 s song from its own
lyrics (no language model), so the songs case measures instrumental, vocals and mix at once.

    python3 bench/load.py                       # mixes and songs at 8, 32 and 64 clients
    CLIENTS=8,64 KINDS=mix python3 bench/load.py
    HOST_BIN=/tmp/other/songforge python3 bench/load.py   # another build, same cases
    HOST_ARGS="--max-concurrent 64" python3 bench/load.py # extra flags for `songforge up`

Needs `make build models` first. Unset RUST_BACKTRACE: it slows the host.
"""
import http.client
import json
import math
import os
import random
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_BIN = os.environ.get("HOST_BIN", os.path.join(ROOT, "target/debug/songforge"))
HOST_ARGS = shlex.split(os.environ.get("HOST_ARGS", ""))
CLIENTS = [int(c) for c in os.environ.get("CLIENTS", "8,32,64").split(",")]
KINDS = os.environ.get("KINDS", "mix,song").split(",")
TRACK_SECONDS = float(os.environ.get("TRACK_SECONDS", "60"))
HEALTH_EVERY_S = 0.05
LYRICS = [
    "Verse:\nI walk along the river in the rain\nThe city lights are calling out my name\n\n"
    "Chorus:\nSummer rain, wash it all away\nSummer rain, I want you here to stay",
    "Verse:\nThe morning sun is rising on the hill\nThe world is waking slowly and is still\n\n"
    "Chorus:\nHold on, the day is new\nHold on, I'll come for you",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stereo_wav(seconds, freq, rate=44100):
    """A 16-bit stereo WAV: a chord with a slow tremolo, so the mixer has real work."""
    n = int(seconds * rate)
    frames = bytearray(n * 4)
    step = [2 * math.pi * f / rate for f in (freq, freq * 1.25, freq * 1.5)]
    for i in range(n):
        v = sum(math.sin(i * s) for s in step) * (0.6 + 0.4 * math.sin(i * 2e-4)) * 6000
        struct.pack_into("<hh", frames, i * 4, int(v), int(v * 0.9))
    header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 2, rate, rate * 4, 4, 16) + b"data" + struct.pack("<I", len(frames))
    return header + bytes(frames)


class Host:
    """`songforge up` on a free port with a fresh state directory."""

    def __init__(self):
        self.port = free_port()
        self.state = tempfile.mkdtemp(prefix="songforge-load-")
        cmd = [HOST_BIN, "up", "--manifest", os.path.join(ROOT, "spin.toml"),
               "--runtime-config", os.path.join(ROOT, "runtime-config.toml"),
               "--listen", f"127.0.0.1:{self.port}", "--state-dir", self.state,
               "--cache-dir", os.path.join(ROOT, ".songforge/cache"), *HOST_ARGS]
        env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
        env.setdefault("RUST_LOG", "warn")
        self.log = open(os.path.join(self.state, "host.log"), "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                if request(self.port, "GET", "/api/health/")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit(f"the host exited; see {self.log.name}")
            time.sleep(0.2)
        sys.exit("the host did not start in 300 s")

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.state, ignore_errors=True)


def request(port, method, path, body=None, headers=None, timeout=900):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def post_json(port, path, body, headers=None):
    return request(port, "POST", path, json.dumps(body).encode(),
                   {"content-type": "application/json", **(headers or {})})


class Watch(threading.Thread):
    """Polls health on one kept-alive connection and samples the host's RSS."""

    def __init__(self, host):
        super().__init__(daemon=True)
        self.host = host
        self.stop = threading.Event()
        self.latencies = []
        self.failures = Counter()
        self.peak = host.rss_mib()

    def run(self):
        conn = None
        while not self.stop.is_set():
            self.peak = max(self.peak, self.host.rss_mib())
            t = time.perf_counter()
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.host.port, timeout=30)
                conn.request("GET", "/api/health/")
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    self.latencies.append((time.perf_counter() - t) * 1000)
                else:
                    self.failures[r.status] += 1
            except OSError as e:
                self.failures[type(e).__name__] += 1
                conn = None
            time.sleep(HEALTH_EVERY_S)


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_case(host, kind, clients, inputs):
    def one(i):
        if kind == "mix":
            return post_json(host.port, "/api/mix-audio/", inputs)[0]
        body = {"lyrics": LYRICS[i % len(LYRICS)], "genre": ["pop", "folk", "rock"][i % 3],
                "duration": 30, "seed": random.randrange(1 << 40)}
        status, raw = post_json(host.port, "/api/songs/", body, {"prefer": "wait=900"})
        job = json.loads(raw) if status == 200 else {}
        if status == 200 and job.get("status") != "succeeded":
            error = job.get("error") or {}
            return f"{job.get('status')}:{error.get('stage')}/{error.get('code')}"
        return status

    watch = Watch(host)
    base = host.rss_mib()
    watch.start()
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        codes = Counter(pool.map(one, range(clients)))
    wall = time.perf_counter() - t
    watch.stop.set()
    watch.join()
    lat = watch.latencies
    health = f"{pct(lat, 50):7.1f} {pct(lat, 99):7.1f} {max(lat, default=float('nan')):7.1f}"
    if watch.failures:
        health += f" (failed: {dict(watch.failures)})"
    codes_text = " ".join(f"{c}x{n}" for c, n in sorted(codes.items(), key=str))
    print(f"{kind:<5} {clients:>7} {clients:>8} {wall:7.1f} {clients / wall:7.2f}  "
          f"{codes_text:<18} {health}   {base:7.0f} {watch.peak:7.0f}", flush=True)


def main():
    if not os.path.exists(HOST_BIN):
        sys.exit(f"{HOST_BIN} is missing: run `make build models` first")
    host = Host()
    try:
        inputs = {}
        if "mix" in KINDS:
            urls = []
            for freq in (220.0, 330.0):
                status, raw = request(host.port, "POST", "/media/", stereo_wav(TRACK_SECONDS, freq),
                                      {"content-type": "audio/wav"})
                if status != 201:
                    sys.exit(f"upload failed: {status} {raw[:200]!r}")
                urls.append(json.loads(raw)["url"])
            inputs = {"instrumental_url": urls[0], "vocals_url": urls[1]}
        print(f"host: {HOST_BIN} {' '.join(HOST_ARGS)}; tracks {TRACK_SECONDS:.0f} s stereo 44.1 kHz")
        print(f"{'kind':<5} {'clients':>7} {'requests':>8} {'wall_s':>7} {'req/s':>7}  {'codes':<18} "
              f"{'health ms p50     p99     max':<25}   {'rss MiB':>7} {'peak':>7}")
        for kind in KINDS:
            for clients in CLIENTS:
                run_case(host, kind, clients, inputs)
    finally:
        host.stop()


if __name__ == "__main__":
    main()
