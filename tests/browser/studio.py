"""The studio in a real browser: Playwright drives Debian's Chromium through the page.

Run by tests/front.rs against a live host:
    python3 tests/browser/studio.py BASE_URL HUM_WAV SPEECH_WAV OUT_DIR
It makes a song from a theme, one from a hum and one from a spoken idea (Chromium's fake
microphone plays HUM_WAV, then SPEECH_WAV),
follows the progress events, plays the mix, fetches every download, and checks the error
shown for a bad request. Screenshots of each state go to OUT_DIR. Prints one JSON line of
what it saw; exits non-zero on the first broken expectation.
"""

import json
import os
import sys

from playwright.sync_api import expect, sync_playwright

BASE, HUM, SPEECH, OUT = sys.argv[1:5]
# With a fifth argument the server wants API keys and this is one of them: the page is run
# as a keyed user instead (see keyed_studio below).
KEY = sys.argv[5] if len(sys.argv) > 5 else None
CHROMIUM = os.environ.get("SONGFORGE_CHROMIUM", "/usr/bin/chromium")
SONG_TIMEOUT_MS = 300_000
# The type each download must be served with, by extension.
TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mid": "audio/midi",
    "txt": "text/plain",
    "json": "application/json",
}
seen = {}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def shot(page, name):
    page.screenshot(path=os.path.join(OUT, name + ".png"), full_page=True)


def events(page):
    return page.eval_on_selector_all(
        "#events li",
        "els => els.map(e => ({event: e.dataset.event, stage: e.dataset.stage,"
        " progress: Number(e.dataset.progress)}))",
    )


def finished_song(page, label, expected_stages):
    """Waits for the job to end, then checks its events, player and downloads."""
    page.wait_for_function(
        "() => ['succeeded', 'failed', 'canceled']"
        ".includes(document.querySelector('#job').dataset.status)",
        timeout=SONG_TIMEOUT_MS,
    )
    status = page.get_attribute("#job", "data-status")
    if status != "succeeded":
        shot(page, f"{label}-{status}")
    check(
        status == "succeeded",
        f"{label}: the job {status}: {page.text_content('#job-error')}",
    )
    evs = events(page)
    check(evs and evs[-1]["event"] == "succeeded", f"{label}: last event {evs[-1:]}")
    progress = [e["progress"] for e in evs]
    check(progress == sorted(progress), f"{label}: progress went back: {progress}")
    check(progress[-1] == 1.0, f"{label}: final progress {progress[-1]}")
    stages = [e["stage"] for e in evs if e["stage"]]
    order = [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s]
    # The events name the stages in the job's order (a stage shorter than the stream's
    # polling may pass unseen), and the job lists every stage as done.
    rest = iter(expected_stages)
    check(all(s in rest for s in order), f"{label}: stages seen in order {order}")
    stage_list = page.eval_on_selector_all(
        "#stages li", "els => els.map(e => [e.dataset.stage, e.dataset.status])"
    )
    check(
        stage_list == [[s, "succeeded"] for s in expected_stages],
        f"{label}: stages {stage_list}",
    )
    # The audio element loads the mix and knows its length.
    page.wait_for_function(
        "() => { const a = document.querySelector('#mix');"
        " return a.readyState >= 1 && a.duration > 0; }",
        timeout=30_000,
    )
    duration = page.eval_on_selector("#mix", "a => a.duration")
    expect(page.locator("#waveform")).to_have_attribute(
        "data-ready", "true", timeout=30_000
    )
    lyric_lines = page.locator("#lyrics-view p").count()
    check(lyric_lines > 0, f"{label}: no lyrics beside the player")
    links = page.eval_on_selector_all(
        "#downloads a", "els => els.map(a => [a.textContent, a.getAttribute('href')])"
    )
    check(
        any(t == "Mix" for t, _ in links) and any(t == "Lyrics" for t, _ in links),
        f"{label}: downloads {links}",
    )
    check(any(t.startswith("MIDI") for t, _ in links), f"{label}: no MIDI in {links}")
    if page.is_checked("#stems"):
        check(any(t.startswith("Stem:") for t, _ in links), f"{label}: no stems in {links}")
    for text, href in links:
        r = page.request.get(BASE + href)
        check(r.status == 200, f"{label}: {text} {href} answered {r.status}")
        ext = href.rsplit(".", 1)[-1].lower()
        ctype = r.headers.get("content-type", "")
        check(
            ctype.startswith(TYPES.get(ext, "?")),
            f"{label}: {text} {href} has type {ctype}",
        )
    seen[label] = {
        "events": len(evs),
        "stages": order,
        "duration_s": round(duration, 2),
        "downloads": len(links),
        "lyric_lines": lyric_lines,
    }
    return duration


def open_studio(pw, microphone):
    """Chromium with `microphone` (a WAV file) as its microphone, on the studio page."""
    browser = pw.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            "--use-file-for-fake-audio-capture=" + microphone,
        ],
    )
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.grant_permissions(["microphone"], origin=BASE)
    page = context.new_page()
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    page.goto(BASE + "/")
    return browser, page


def record(page, field, seconds, take_name):
    """Records `seconds` from the microphone into the recorder for `field`; keeps the take."""
    recorder = page.locator(f".recorder[data-for={field}]")
    recorder.locator(".record").click()
    expect(recorder.locator(".record")).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(int(seconds * 1000))
    recorder.locator(".record").click()
    expect(recorder).to_have_attribute("data-ready", "true", timeout=30_000)
    src = recorder.locator(".take").get_attribute("src")
    # A keyed page plays the take from an object URL; the file is only reachable with the key.
    if not src.startswith("blob:"):
        with open(os.path.join(OUT, take_name), "wb") as f:
            f.write(page.request.get(BASE + src).body())
    return recorder.locator(".rec-state").text_content()


def keyed_studio(pw):
    """A server with API keys: the page asks for the key, sends it, and plays a stored take
    through it (an <audio> element cannot send the header, so the page fetches the bytes)."""
    browser, page = open_studio(pw, HUM)
    # The page's first call (the song list) answers 401: the key panel opens.
    expect(page.locator("#key-panel")).to_be_visible(timeout=10_000)
    page.fill("#api-key", KEY)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-panel")).to_be_hidden()
    page.check("input[name=source][value=hum]")
    state = record(page, "melody_url", 2.5, "keyed-take.wav")
    name = state.rsplit("stored as ", 1)[-1].rstrip(".")
    take = page.locator(".recorder[data-for=melody_url] .take")
    src = take.get_attribute("src")
    check(src.startswith("blob:"), f"the take plays from {src}, which needs the key")
    page.wait_for_function(
        "() => { const a = document.querySelector('.recorder[data-for=melody_url] .take');"
        " return a.readyState >= 1 && a.duration > 0; }",
        timeout=30_000,
    )
    duration = take.evaluate("a => a.duration")
    check(2.0 <= duration <= 3.5, f"the stored take plays {duration} s")
    # The stored file itself wants the key: without it, 401.
    anonymous = page.request.get(BASE + "/media/" + name)
    check(anonymous.status == 401, f"/media/{name} without a key answered {anonymous.status}")
    shot(page, "keyed-take")
    browser.close()
    seen["keyed"] = {"take": name, "duration_s": round(duration, 2)}


page_errors = []
with sync_playwright() as pw:
    if KEY:
        keyed_studio(pw)
        check(not page_errors, f"script errors on the page: {page_errors}")
        print(json.dumps(seen))
        sys.exit(0)
    browser, page = open_studio(pw, HUM)
    expect(page).to_have_title("SongForge studio")
    shot(page, "01-start")

    # A bad request: no theme. The server's message is shown and the field is marked.
    page.click("#start")
    error = page.locator("#form-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("input_text")
    expect(page.locator("#input_text")).to_have_attribute("aria-invalid", "true")
    seen["bad_request"] = error.text_content()
    shot(page, "02-missing-theme")

    # A song from a theme, end to end.
    page.fill("#input_text", "a lantern walk along the river at night")
    page.select_option("#genre", "folk")
    page.fill("#duration", "30")
    page.fill("#seed", "41")
    page.check("#stems")
    page.click("#start")
    expect(error).to_be_hidden()
    page.locator("#job").wait_for(state="visible")
    finished_song(page, "theme", ["lyrics", "instrumental", "vocals", "mix"])
    page.eval_on_selector("#mix", "a => { a.currentTime = a.duration / 2; }")
    shot(page, "03-theme-song")

    # A song from a hum, recorded from Chromium's fake microphone.
    page.check("input[name=source][value=hum]")
    expect(page.locator("#duration")).to_be_disabled()
    page.fill("#hum_lyrics", "Hold me close and stay")
    seen["hum_take"] = record(page, "melody_url", 4.5, "hum-take.wav")
    shot(page, "04-hum-recorded")
    page.click("#start")
    finished_song(page, "hum", ["vocals", "instrumental", "mix"])
    shot(page, "05-hum-song")

    # Earlier songs are listed, and one opens again.
    page.click("#refresh")
    expect(page.locator("#history-list li button")).to_have_count(2, timeout=10_000)
    page.locator("#history-list li button").last.click()
    expect(page.locator("#job")).to_have_attribute("data-status", "succeeded")

    # A phone-width screen: one column, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    check(wide <= 391, f"the page is {wide}px wide on a 390px screen")
    shot(page, "06-phone")
    browser.close()

    # A song from a spoken idea: the recording is transcribed and its words are the theme.
    browser, page = open_studio(pw, SPEECH)
    page.check("input[name=source][value=idea]")
    page.select_option("#genre", "folk")
    page.fill("#duration", "30")
    seen["idea_take"] = record(page, "audio_url", 4.5, "idea-take.wav")
    page.click("#start")
    finished_song(page, "idea", ["transcribe", "lyrics", "instrumental", "vocals", "mix"])
    heard = page.text_content("#song-transcript").lower()
    words = [w for w in ("music", "soul", "universe", "wings", "mind") if w in heard]
    check(len(words) >= 3, f"the idea was heard as {heard!r}")
    seen["idea"]["heard"] = heard
    shot(page, "07-idea-song")
    browser.close()

    check(not page_errors, f"script errors on the page: {page_errors}")

print(json.dumps(seen))
