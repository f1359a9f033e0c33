// SongForge studio: plain modules, no build step. Every action is a call to the API that
// /api/openapi.json describes: POST /media/ for recordings, POST /api/songs/ to start,
// GET .../events (Server-Sent Events) to follow, GET /api/songs/ to browse.

const $ = (sel, root = document) => root.querySelector(sel);
const KEY_STORE = "songforge.apiKey";
const MAX_TAKE_S = 60;

/** An API answer that was not a success, with the envelope's code, message and field. */
class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `the server answered ${status}`);
    this.status = status;
    this.code = e.code || "http_" + status;
    this.field = e.field || null;
  }
}

function apiKey() {
  return localStorage.getItem(KEY_STORE) || "";
}

/** The key as a request header, when there is one. */
function keyHeader() {
  return apiKey() ? { authorization: "Bearer " + apiKey() } : {};
}

/** Calls the API; JSON in and out; a 401 or 403 asks for a key. */
async function api(path, { method = "GET", json, form, headers = {} } = {}) {
  const h = { accept: "application/json", ...headers, ...keyHeader() };
  let body;
  if (json !== undefined) {
    h["content-type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  const r = await fetch(path, { method, headers: h, body });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (r.status === 401 || r.status === 403) showKeyPanel();
  if (!r.ok) throw new ApiError(r.status, data);
  return { status: r.status, data };
}

/** A stored file, fetched with the key: media belongs to the key that stored it. */
async function media(url) {
  const r = await fetch(url, { headers: keyHeader() });
  if (r.status === 401) showKeyPanel();
  if (!r.ok) throw new Error(`${url} answered ${r.status}`);
  return r;
}

/** Object URLs made for the song on show, freed when another song is shown. */
const songUrls = [];

/**
 * A URL an <audio> element or a download link can use. Without a key, the file's own URL;
 * with one, an object URL of the bytes fetched with it (elements send no headers), noted in
 * `made` so its owner can free it.
 */
async function playable(url, made = songUrls) {
  if (!url || !apiKey()) return url;
  const u = URL.createObjectURL(await (await media(url)).blob());
  made.push(u);
  return u;
}

/** Frees the object URLs in `made`. */
function free(made) {
  for (const u of made.splice(0)) URL.revokeObjectURL(u);
}

function showKeyPanel() {
  const panel = $("#key-panel");
  panel.hidden = false;
  $("#api-key").focus();
}

$("#key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem(KEY_STORE, $("#api-key").value.trim());
  $("#key-panel").hidden = true;
  loadHistory();
});
$("#key-forget").addEventListener("click", () => {
  localStorage.removeItem(KEY_STORE);
  $("#api-key").value = "";
});

// ---- Source choice -------------------------------------------------------------------

const form = $("#song-form");
function source() {
  return form.elements.source.value;
}
function showSource() {
  for (const el of form.querySelectorAll(".source")) el.hidden = el.dataset.source !== source();
  // A hum sets the song's length, so the server refuses a duration beside it.
  $("#duration").disabled = source() === "hum";
}
for (const r of form.elements.source) r.addEventListener("change", showSource);
showSource();

// ---- Recording -----------------------------------------------------------------------

/** The uploaded take of each recorder, by the request field it fills. */
const takes = {};

/** 16-bit mono WAV of decoded audio: what every endpoint reads. */
function wavOf(buffer) {
  const n = buffer.length;
  const mono = new Float32Array(n);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const d = buffer.getChannelData(c);
    for (let i = 0; i < n; i++) mono[i] += d[i] / buffer.numberOfChannels;
  }
  const out = new DataView(new ArrayBuffer(44 + n * 2));
  const str = (o, s) => { for (let i = 0; i < s.length; i++) out.setUint8(o + i, s.charCodeAt(i)); };
  str(0, "RIFF"); out.setUint32(4, 36 + n * 2, true); str(8, "WAVE");
  str(12, "fmt "); out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, 1, true);
  out.setUint32(24, buffer.sampleRate, true); out.setUint32(28, buffer.sampleRate * 2, true);
  out.setUint16(32, 2, true); out.setUint16(34, 16, true);
  str(36, "data"); out.setUint32(40, n * 2, true);
  for (let i = 0; i < n; i++) {
    const s = Math.max(-1, Math.min(1, mono[i]));
    out.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([out], { type: "audio/wav" });
}

for (const box of document.querySelectorAll(".recorder")) {
  const field = box.dataset.for;
  const button = $(".record", box);
  const state = $(".rec-state", box);
  const take = $(".take", box);
  // The take's own object URL: a song shown later must not free it.
  const takeUrls = [];
  let recorder = null;
  let timer = null;
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", async () => {
    if (recorder) {
      recorder.stop();
      return;
    }
    let stream;
    try {
      // A voice for music, not a call: the call-audio filters would flatten or gate a hum.
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (err) {
      state.textContent = "The microphone is not available: " + err.message;
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = async () => {
      clearTimeout(timer);
      stream.getTracks().forEach((t) => t.stop());
      recorder = null;
      button.textContent = "Record again";
      button.setAttribute("aria-pressed", "false");
      state.textContent = "Uploading…";
      try {
        // MediaRecorder writes WebM/Opus; the browser decodes it and the take goes up as WAV.
        const ctx = new AudioContext();
        const decoded = await ctx.decodeAudioData(await new Blob(chunks).arrayBuffer());
        ctx.close();
        const wav = wavOf(decoded);
        const fd = new FormData();
        fd.append("file", wav, field === "melody_url" ? "hum.wav" : "idea.wav");
        const { data } = await api("/media/", { method: "POST", form: fd });
        takes[field] = data.url;
        free(takeUrls);
        take.src = await playable(data.url, takeUrls);
        take.hidden = false;
        state.textContent = `Recorded ${decoded.duration.toFixed(1)} s, stored as ${data.name}.`;
        box.dataset.ready = "true";
      } catch (err) {
        state.textContent = "The recording could not be stored: " + err.message;
      }
    };
    recorder.start();
    button.textContent = "Stop";
    button.setAttribute("aria-pressed", "true");
    state.textContent = "Recording…";
    delete box.dataset.ready;
    timer = setTimeout(() => recorder && recorder.stop(), MAX_TAKE_S * 1000);
  });
}

// ---- Starting and following a job ----------------------------------------------------

let following = null;

function clearErrors() {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  $("#form-error").hidden = true;
}

/** Shows an API error by the form, marking the field it names. */
function showFormError(err) {
  const box = $("#form-error");
  const name = err.field === "audio_url" || err.field === "audio" ? null : err.field;
  const input = name && (form.elements[name] || (name === "input_text" && $("#input_text")));
  box.textContent = err.field ? `${err.message} (field: ${err.field})` : err.message;
  box.dataset.code = err.code;
  box.hidden = false;
  if (input && input.setAttribute) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

function request() {
  const v = (name) => form.elements[name].value.trim();
  const body = { genre: v("genre") };
  switch (source()) {
    case "theme": body.input_text = v("input_text"); break;
    case "lyrics": body.lyrics = v("lyrics"); break;
    case "idea": if (takes.audio_url) body.audio_url = takes.audio_url; break;
    case "hum":
      if (takes.melody_url) body.melody_url = takes.melody_url;
      if (v("hum_lyrics")) body.lyrics = v("hum_lyrics");
      break;
  }
  if (v("mood")) body.mood = v("mood");
  if (v("duration") && source() !== "hum") body.duration = Number(v("duration"));
  if (v("seed")) body.seed = Number(v("seed"));
  if (form.elements.stems.checked) body.stems = true;
  return body;
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  clearErrors();
  const start = $("#start");
  start.disabled = true;
  // The last song's panels go at once, so nothing on screen belongs to the wrong job.
  if (following && following.source) following.source.close();
  following = null;
  $("#job").hidden = true;
  $("#job").dataset.status = "";
  $("#events").replaceChildren();
  $("#song").hidden = true;
  try {
    const { data } = await api("/api/songs/", { method: "POST", json: request() });
    follow(data);
  } catch (err) {
    showFormError(err);
  } finally {
    start.disabled = false;
  }
});

$("#cancel").addEventListener("click", async () => {
  if (!following) return;
  try {
    await api(`/api/songs/${following.id}/cancel`, { method: "POST" });
  } catch (err) {
    showJobError(err.message);
  }
});

function showJobError(message) {
  const box = $("#job-error");
  box.textContent = message;
  box.hidden = !message;
}

/** Follows a job from its 202 (or a stored job) to its end. */
function follow(accepted) {
  if (following && following.source) following.source.close();
  const id = accepted.job_id || accepted.id;
  const started = performance.now();
  following = { id, source: null };
  history.replaceState(null, "", "#song=" + encodeURIComponent(id));
  $("#job").hidden = false;
  $("#song").hidden = true;
  $("#events").replaceChildren();
  showJobError("");
  $("#cancel").hidden = false;
  const log = (name, job) => {
    const li = document.createElement("li");
    li.dataset.event = name;
    li.dataset.stage = job.stage || "";
    li.dataset.progress = String(job.progress ?? "");
    const t = ((performance.now() - started) / 1000).toFixed(1);
    li.textContent = `${t} s  ${name}  ${job.stage || "-"}  ${Math.round((job.progress || 0) * 100)}%`;
    $("#events").append(li);
  };
  const finish = (job) => {
    $("#cancel").hidden = true;
    renderJob(job);
    if (job.status === "succeeded") renderSong(job);
    else if (job.status === "failed") {
      const e = job.error || {};
      showJobError(`The ${e.stage || "song"} stage failed: ${e.message || "no reason given"}` +
        (e.field ? ` (field: ${e.field})` : ""));
    } else if (job.status === "canceled") showJobError("The song was canceled.");
    loadHistory();
  };
  renderJob(accepted);
  if (["succeeded", "failed", "canceled"].includes(accepted.status) && accepted.stages) {
    log(accepted.status, accepted);
    finish(accepted);
    return;
  }
  if (apiKey()) {
    // EventSource cannot send a key: poll the job instead.
    const poll = async () => {
      try {
        const { data } = await api(`/api/songs/${id}`);
        log("progress", data);
        if (["succeeded", "failed", "canceled"].includes(data.status)) return finish(data);
        renderJob(data);
      } catch (err) {
        return showJobError(err.message);
      }
      setTimeout(poll, 1000);
    };
    poll();
    return;
  }
  const es = new EventSource(accepted.events_url || `/api/songs/${id}/events`);
  following.source = es;
  es.addEventListener("progress", (ev) => {
    const job = JSON.parse(ev.data);
    log("progress", job);
    renderJob(job);
  });
  for (const end of ["succeeded", "failed", "canceled"]) {
    es.addEventListener(end, (ev) => {
      es.close();
      const job = JSON.parse(ev.data);
      log(end, job);
      finish(job);
    });
  }
  es.onerror = () => {
    // The stream ended or dropped: read the job once to see where it stands.
    if (es.readyState === EventSource.CLOSED) return;
    es.close();
    api(`/api/songs/${id}`).then(({ data }) => {
      if (["succeeded", "failed", "canceled"].includes(data.status)) finish(data);
      else follow(data);
    }).catch((err) => showJobError(err.message));
  };
}

function renderJob(job) {
  const p = job.progress || 0;
  $("#progress").value = p;
  const eta = job.eta_s != null && job.status === "running" ? `, about ${Math.ceil(job.eta_s)} s left` : "";
  $("#progress-text").textContent = `${job.status || "queued"}${job.stage ? " · " + job.stage : ""} · ${Math.round(p * 100)}%${eta}`;
  $("#job").dataset.status = job.status || "";
  if (!job.stages) return;
  const list = $("#stages");
  list.replaceChildren();
  for (const s of job.stages) {
    const li = document.createElement("li");
    li.dataset.stage = s.name;
    li.dataset.status = s.status;
    const ms = s.ms != null ? ` ${(s.ms / 1000).toFixed(1)} s` : "";
    li.textContent = `${s.name}: ${s.status}${ms}${s.cached ? " (cached)" : ""}`;
    list.append(li);
  }
}

// ---- The finished song ---------------------------------------------------------------

let sectionTimes = [];

function renderSong(job) {
  const out = job.output || {};
  $("#song").hidden = false;
  $("#song-title").textContent = out.title ? `“${out.title}”` : "Your song";
  const meta = [];
  if (out.duration) meta.push(`${out.duration.toFixed(1)} s`);
  if (out.bpm) meta.push(`${out.bpm} bpm`);
  if (out.key) meta.push(out.key);
  if (out.loudness_lufs != null) meta.push(`${out.loudness_lufs} LUFS`);
  if (out.engines) meta.push(Object.entries(out.engines).filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`).join(", "));
  $("#song-meta").textContent = meta.join(" · ");
  const heard = $("#song-transcript");
  heard.hidden = !out.transcript;
  heard.textContent = out.transcript ? `From your idea, heard as: “${out.transcript.trim()}”` : "";
  free(songUrls);
  const audio = $("#mix");
  audio.removeAttribute("src");
  playable(out.mix_url || out.url || "").then((src) => {
    if (src) audio.src = src;
    drawWaveform(src);
  }).catch(() => drawWaveform(""));
  renderLyrics(out);
  renderDownloads(out);
  sectionTimes = [];
  if (out.arrangement_url) {
    media(out.arrangement_url).then((r) => r.json()).then((map) => {
      sectionTimes = (map.sections || [])
        .filter((s) => s.lyric_section != null)
        .map((s) => ({ start: s.start_s, index: s.lyric_section }));
    }).catch(() => {});
  }
}

/** The lyrics as sections: the lyrics stage's own, else read from the text. */
function lyricSections(out) {
  if (Array.isArray(out.sections) && out.sections.length) return out.sections;
  const sections = [];
  let current = null;
  for (const raw of (out.lyrics || "").split("\n")) {
    const line = raw.trim();
    if (!line) { current = null; continue; }
    if (line.endsWith(":") && line.length < 40) {
      current = { name: line.slice(0, -1), lines: [] };
      sections.push(current);
      continue;
    }
    if (!current) { current = { name: "", lines: [] }; sections.push(current); }
    current.lines.push(line);
  }
  return sections;
}

function renderLyrics(out) {
  const view = $("#lyrics-view");
  view.replaceChildren();
  lyricSections(out).forEach((s, i) => {
    const sec = document.createElement("section");
    sec.dataset.index = String(i);
    if (s.name) {
      const h = document.createElement("h4");
      h.textContent = s.name;
      sec.append(h);
    }
    for (const line of s.lines || []) {
      const p = document.createElement("p");
      p.textContent = line;
      sec.append(p);
    }
    view.append(sec);
  });
}

function renderDownloads(out) {
  const items = [
    ["Mix", out.mix_url || out.url],
    ["Vocals", out.vocals_url],
    ["Instrumental", out.instrumental_url],
    ["MIDI (band)", out.midi_url],
    ["MIDI (vocal)", out.score_url],
    ["Lyrics", out.lyrics_url],
    ["Arrangement", out.arrangement_url],
  ];
  for (const stems of [out.stems, out.mix_stems]) {
    if (Array.isArray(stems)) stems.forEach((s) => items.push([`Stem: ${s.name || s.part}`, s.url]));
    else if (stems && typeof stems === "object") {
      for (const [name, s] of Object.entries(stems)) items.push([`Stem: ${name}`, typeof s === "string" ? s : s && s.url]);
    }
  }
  const list = $("#downloads");
  list.replaceChildren();
  for (const [label, url] of items) {
    if (!url) continue;
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = url;
    a.download = url.split("/").pop();
    a.textContent = label;
    // With a key the link cannot fetch the file itself: fetch it with the key, then save it.
    a.addEventListener("click", async (e) => {
      if (!apiKey()) return;
      e.preventDefault();
      const save = document.createElement("a");
      save.href = await playable(url);
      save.download = a.download;
      save.click();
    });
    li.append(a);
    list.append(li);
  }
}

let peaks = null;

async function drawWaveform(url) {
  peaks = null;
  paint(0);
  if (!url) return;
  try {
    const bytes = await (await fetch(url)).arrayBuffer();
    const ctx = new AudioContext();
    const buf = await ctx.decodeAudioData(bytes);
    ctx.close();
    const width = 800;
    const data = buf.getChannelData(0);
    const step = Math.max(1, Math.floor(data.length / width));
    peaks = new Float32Array(width);
    for (let x = 0; x < width; x++) {
      let m = 0;
      for (let i = x * step; i < Math.min(data.length, (x + 1) * step); i++) m = Math.max(m, Math.abs(data[i]));
      peaks[x] = m;
    }
    $("#waveform").dataset.ready = "true";
    paint(0);
  } catch {
    /* The audio element still plays; the picture is a nicety. */
  }
}

function paint(fraction) {
  const canvas = $("#waveform");
  const w = (canvas.width = canvas.clientWidth || 800);
  const h = canvas.height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, w, h);
  if (!peaks) return;
  for (let x = 0; x < w; x++) {
    const p = peaks[Math.floor((x / w) * peaks.length)];
    g.fillStyle = x / w <= fraction ? "#2346b8" : "#8a93b0";
    g.fillRect(x, h / 2 - (p * h) / 2, 1, Math.max(1, p * h));
  }
}

$("#mix").addEventListener("timeupdate", () => {
  const a = $("#mix");
  paint(a.duration ? a.currentTime / a.duration : 0);
  let now = null;
  for (const s of sectionTimes) if (s.start <= a.currentTime) now = s.index;
  for (const sec of document.querySelectorAll("#lyrics-view section")) {
    sec.classList.toggle("now", Number(sec.dataset.index) === now);
  }
});

$("#waveform").addEventListener("click", (e) => {
  const a = $("#mix");
  if (!a.duration) return;
  const r = e.currentTarget.getBoundingClientRect();
  a.currentTime = ((e.clientX - r.left) / r.width) * a.duration;
});

// ---- Earlier songs -------------------------------------------------------------------

async function loadHistory() {
  const list = $("#history-list");
  try {
    const { data } = await api("/api/songs/");
    list.replaceChildren();
    if (!data.jobs.length) {
      const li = document.createElement("li");
      li.textContent = "No songs yet.";
      list.append(li);
    }
    for (const j of data.jobs) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "quiet";
      b.textContent = "Open";
      b.setAttribute("aria-label", `Open ${j.title || j.id}`);
      b.addEventListener("click", () => open(j.id));
      const when = j.created_at ? new Date(j.created_at).toLocaleString() : "";
      li.append(`${j.title || "untitled"} — ${j.status} · ${when} `, b);
      list.append(li);
    }
  } catch (err) {
    list.textContent = "Earlier songs could not be listed: " + err.message;
  }
}

async function open(id) {
  try {
    const { data } = await api(`/api/songs/${encodeURIComponent(id)}`);
    follow(data);
  } catch (err) {
    showJobError(err.message);
    $("#job").hidden = false;
  }
}

$("#refresh").addEventListener("click", loadHistory);
loadHistory();
const linked = new URLSearchParams(location.hash.slice(1)).get("song");
if (linked) open(linked);
