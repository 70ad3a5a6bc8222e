"""The web console's flows in a real headless browser, against a real wasmcron server.

The same steps run in Debian's chromium (over the DevTools protocol) and in Debian's
firefox-esr (over WebDriver BiDi, Playwright's "moz-firefox" channel: a stock Firefox, not
Playwright's patched build).

Run by tests/console.rs (which starts the servers); by hand:
    target/toolchains/venv/bin/python tests/console/flows.py --base http://127.0.0.1:8888 \
        --plugins-dir target/plugins --auth-base http://127.0.0.1:8889 \
        --viewer-token wcr_… --operator-token wcr_… --admin-token wcr_… \
        [--browser firefox] [--screenshots docs/screenshots]
(the second server has a token of each role: `wasmcron token create`).

Each step asserts what a user would see; the first failure ends the script with a
non-zero status and says which step, with the page's text.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright

FIRST_LOAD_LIMIT = 300 * 1024
TIMEOUT_MS = 30_000

args = argparse.ArgumentParser()
args.add_argument("--base", required=True)
args.add_argument("--plugins-dir", required=True)
args.add_argument("--screenshots", default="")
args.add_argument("--browser", choices=["chromium", "firefox"], default="chromium")
# Debian's builds: Playwright's own browser downloads are never used.
args.add_argument("--executable", default="")
# A second server with access control on, and a token of each role on it.
args.add_argument("--auth-base", required=True)
args.add_argument("--viewer-token", required=True)
args.add_argument("--operator-token", required=True)
args.add_argument("--admin-token", required=True)
args = args.parse_args()
BASE = args.base.rstrip("/")
EXECUTABLE = args.executable or {"chromium": "/usr/bin/chromium",
                                  "firefox": "/usr/bin/firefox-esr"}[args.browser]


def call(method, path, body=None):
    """The API, directly: for the setup a step needs that is not its own flow."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def step(name):
    print(f"-- {name}", flush=True)


def shot(page, name, full_page=True):
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
        page.screenshot(path=os.path.join(args.screenshots, f"{name}.png"), full_page=full_page)


def confirm(page, label):
    """Clicks the confirm dialog's button `label`."""
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=label, exact=True).click()
    expect(dialog).to_be_hidden()


problems = []


# Playwright's screenshots in Firefox (over WebDriver BiDi) add a `<style>body {}</style>`
# to the page for a moment (to settle animations); the CSP refuses it, naming the hash of
# what it refused. That refusal is Playwright's, not the console's.
SCREENSHOT_STYLE = "sha256-" + base64.b64encode(hashlib.sha256(b"body {}").digest()).decode()


def watch(page):
    """Collects script errors and console errors. A CSP violation is one of them:
    Chromium logs it as a console error, Firefox as a page error."""
    page.on("pageerror", lambda e: SCREENSHOT_STYLE not in str(e)
            and problems.append(f"page error: {e}"))
    # An API answer of 4xx is the flow itself (Chromium logs it as "Failed to load").
    page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
            and problems.append(f"console error: {m.text}"))


def first_load(browser):
    step("first page load: size, headers, no errors")
    context = browser.new_context()
    page = context.new_page()
    watch(page)
    responses = []
    page.on("requestfinished", lambda r: responses.append(r))
    main = page.goto(BASE + "/")
    csp = main.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, f"weak CSP: {csp!r}"
    assert main.headers.get("etag"), "the page has no ETag"
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    page.wait_for_load_state("networkidle")
    total = 0
    for r in responses:
        sizes = r.sizes()
        total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    print(f"first load: {len(responses)} responses, {total} bytes transferred "
          f"(bodies and headers, from Playwright's request sizes)")
    assert total < FIRST_LOAD_LIMIT, f"first load is {total} bytes, over {FIRST_LOAD_LIMIT}"
    # The policy holds in this browser, and the watch sees it refuse something: an
    # inline script is not run, and its violation is reported (a console error in
    # Chromium, a page error in Firefox).
    before = len(problems)
    page.evaluate("""document.head.append(Object.assign(document.createElement('script'),
        {textContent: 'window.inlineRan = true'}))""")
    assert page.evaluate("window.inlineRan") is None, "an inline script ran despite the CSP"
    for _ in range(100):  # a bound, not a timing: the report comes within a moment
        if len(problems) > before:
            break
        page.wait_for_timeout(50)
    seen = problems[before:]
    assert any("inline script" in p for p in seen), f"the refusal was not reported: {seen}"
    del problems[before:]
    # A reload is answered from the cache after a 304 for each file.
    statuses = []
    page.on("response", lambda r: "/console/" in r.url and statuses.append(r.status))
    page.reload()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert statuses and all(s in (200, 304) for s in statuses), statuses
    context.close()
    return total


def words(page):
    step("schedules in words (words.js)")
    got = page.evaluate("""async () => {
        const w = await import('/console/words.js');
        const cron = (p, tz) => w.schedule({trigger: 'cron', trigger_params: p, timezone: tz});
        const any = {hour: '*', day: '*', month: '*', day_of_week: '*'};
        return [
            cron({...any, minute: '*/5'}),
            cron({...any, minute: '0', hour: '3'}, 'Europe/Berlin'),
            cron({...any, minute: '30', hour: '9', day_of_week: 'mon-fri'}),
            cron({...any, minute: '15'}),
            cron({...any, minute: '*', second: '*/10'}),
            cron({...any, minute: '0', hour: '3', second: '30'}),
            w.schedule({trigger: 'interval', trigger_params: {interval: 7200}}),
            w.schedule({trigger: 'interval', trigger_params: {interval: '90'}}),
            w.schedule({trigger: 'date', trigger_params: {run_date: '2027-01-01T12:00:00+00:00'}}),
            w.duration(0.043), w.duration(1520), w.duration(123000), w.bytes(196608),
        ];
    }""")
    want = ["every 5 minutes", "at 03:00 Europe/Berlin", "at 09:30 on mon-fri UTC",
            "every hour at minute 15", "every 10 seconds", "cron 0 3 * * * second 30",
            "every 2 hours", "every 90 seconds", "once at 2027-01-01 12:00:00",
            "0.043 ms", "1.52 s", "2 min 3 s", "192 KiB"]
    assert got == want, f"words: {got} != {want}"


def create_and_edit(page):
    step("create a job from the class form; a bad field's 400 beside it; next runs")
    page.goto(BASE + "/#/jobs")
    page.get_by_role("link", name="Add job").click()
    expect(page.get_by_role("heading", name="Add a job")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Nightly report")
    page.get_by_label("Class").select_option("simple_scheduler.jobs.sample_job.AwesomeJob")
    # The class's argument docs make the form, filled with its example arguments.
    expect(page.get_by_label("argument1")).to_have_value("first argument AAA")
    page.get_by_label("argument2").fill("for the console")
    page.get_by_label("Minute").fill("0")
    page.get_by_label("Hour").fill("25")
    expect(page.locator("#err-hour")).to_contain_text("invalid hour expression '25'")
    expect(page.get_by_label("Hour")).to_have_attribute("aria-describedby", "err-hour")
    page.get_by_label("Hour").fill("3")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    expect(page.locator("#err-hour")).to_be_empty()
    expect(page.locator("#schedule-words")).to_have_text("at 03:00 Europe/Berlin")
    expect(page.locator("#preview li")).to_have_count(5)
    expect(page.locator("#preview li").first).to_contain_text("03:00:00")
    shot(page, "job-form")
    # A mistake only the server sees on save is shown beside its field too.
    page.locator("summary", has_text="Options").click()
    page.get_by_label("Time limit (s)").fill("999999")
    expect(page.locator("#err-timeout_seconds")).to_contain_text("invalid timeout_seconds 999999")
    page.get_by_label("Time limit (s)").fill("")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="Nightly report")).to_be_visible()
    expect(page.locator(".lead")).to_contain_text("at 03:00 Europe/Berlin")
    expect(page.locator("#next-runs li")).to_have_count(10)
    expect(page.locator("#next-runs li").first).to_contain_text("Europe/Berlin")
    job_id = page.url.rsplit("/", 1)[1]
    job = call("GET", f"/api/v1/jobs/{job_id}")
    assert job["pub_args"] == ["first argument AAA", "for the console"], job
    assert job["timezone"] == "Europe/Berlin" and job["hour"] == "3", job

    step("edit it, with the raw JSON mode")
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", name="Edit Nightly report")).to_be_visible()
    expect(page.get_by_label("Hour")).to_have_value("3")
    page.get_by_label("Name", exact=True).fill("Nightly report v2")
    page.get_by_text("Raw JSON").click()
    raw = page.get_by_label("Arguments as JSON (an array or an object)")
    expect(raw).to_have_value(re.compile("for the console"))
    raw.fill('["edited", 2]')
    page.get_by_text("Form", exact=True).click()
    expect(page.get_by_label("argument1")).to_have_value("edited")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="Nightly report v2")).to_be_visible()
    job = call("GET", f"/api/v1/jobs/{job_id}")
    assert job["pub_args"] == ["edited", 2], job
    expect(page.locator("section", has_text="Audit trail")).to_contain_text("name: Nightly report => Nightly report v2")
    shot(page, "job-detail")
    return job_id


def pause_resume_run(page, job_id):
    step("pause and resume from the jobs table")
    page.goto(BASE + "/#/jobs")
    row = page.locator("tr", has=page.get_by_role("link", name="Nightly report v2"))
    row.get_by_role("button", name="Pause Nightly report v2").click()
    expect(row.locator(".badge").last).to_have_text("paused")
    assert call("GET", f"/api/v1/jobs/{job_id}")["state"] == "paused"
    row.get_by_role("button", name="Resume Nightly report v2").click()
    expect(row.locator(".badge").last).to_have_text("active")
    page.get_by_label("Search").fill("no such job")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(0)
    page.get_by_label("Search").fill("")

    step("run now, watch it succeed, see its result")
    row.get_by_role("button", name="Run now Nightly report v2").click()
    expect(page.locator("#execution-state")).to_have_text("succeeded", timeout=TIMEOUT_MS)
    expect(page.locator("#result")).to_contain_text('"edited"')
    expect(page.locator("#logs")).to_contain_text("info")
    shot(page, "execution")
    page.goto(BASE + "/#/jobs")
    expect(page.locator("#jobs-table")).to_contain_text("succeeded")
    shot(page, "jobs")
    page.set_viewport_size({"width": 390, "height": 800})
    shot(page, "jobs-narrow")
    page.set_viewport_size({"width": 1280, "height": 800})


def cancel_long_run(page):
    step("cancel a long run")
    job_id = call("POST", "/api/v1/jobs", {
        "name": "Long sleeper", "job_class_string": "wasmcron.testing.Sleep",
        "pub_args": {"seconds": 300}, "trigger": "interval",
        "trigger_params": {"interval": 86400}})["job_id"]
    page.goto(f"{BASE}/#/jobs/{job_id}")
    page.get_by_role("button", name="Run now Long sleeper").click()
    expect(page.locator("#execution-state")).to_have_text("running", timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Cancel run").click()
    confirm(page, "Cancel run")
    expect(page.locator("#execution-state")).to_have_text("stopped", timeout=TIMEOUT_MS)
    expect(page.locator("#result")).to_contain_text("the run was cancelled")
    # The log line it wrote before the page subscribed comes with the final state.
    expect(page.locator("#logs")).to_contain_text("sleeping 300 s")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)


def executions_list(page):
    step("executions: filters, live rows")
    page.goto(BASE + "/#/executions")
    table = page.locator("#executions-table")
    expect(table).to_contain_text("succeeded")
    expect(table).to_contain_text("stopped")
    page.get_by_label("State").select_option("stopped")
    page.get_by_role("button", name="Apply").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("Long sleeper")
    page.get_by_role("button", name="Clear").click()
    expect(page.locator(".live")).to_have_text("● live")
    # A run started elsewhere appears without a reload, and reaches its final state.
    echo = call("POST", "/api/v1/jobs", {
        "name": "Live echo", "job_class_string": "wasmcron.testing.Echo", "pub_args": [1],
        "trigger": "interval", "trigger_params": {"interval": 86400}})["job_id"]
    call("POST", f"/api/v1/executions/{echo}")
    row = table.locator("tr", has_text="Live echo")
    expect(row).to_contain_text("succeeded", timeout=TIMEOUT_MS)
    shot(page, "executions")


def executions_paging(page):
    step("executions: an older page and back with the cursor")
    job = call("POST", "/api/v1/jobs", {
        "name": "Many runs", "job_class_string": "wasmcron.testing.Echo", "pub_args": [1],
        "trigger": "interval", "trigger_params": {"interval": 86400}})["job_id"]
    for _ in range(55):
        call("POST", f"/api/v1/executions/{job}")
    for _ in range(300):  # a bound, not a timing: until the 55 runs have ended
        runs = call("GET", f"/api/v1/executions?job_id={job}&limit=100")["executions"]
        if all(r["state"] in ("succeeded", "skipped") for r in runs):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the runs did not end: {[r['state'] for r in runs]}")
    page.goto(f"{BASE}/#/executions?job_id={job}")
    rows = page.locator("#executions-table tbody tr")
    expect(rows).to_have_count(50)
    newest = rows.first.get_attribute("data-execution")
    page.get_by_role("button", name="Older →").click()
    expect(rows).to_have_count(5)
    expect(page.get_by_role("button", name="Older →")).to_have_count(0)
    page.get_by_role("button", name="← Newer").click()
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-execution", newest)


def plugins(page, bad_file):
    step("plugins: an invalid upload's message (picked, dropped), an upload, a replacement, a 409 delete then force")
    page.goto(BASE + "/#/plugins")
    expect(page.locator("#plugins-table")).to_contain_text("wasmcron.testing")
    page.get_by_label("File").set_input_files(bad_file)
    page.get_by_label("Name").fill("console.bad")
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-error")).to_contain_text("the file is not WebAssembly")
    # Dropped on the form instead: the drag events a drop delivers, carrying a file, made
    # in the page (Playwright cannot drag a file in from outside the browser). The plugin
    # is named after the file, and refused the same way.
    page.get_by_label("Name").fill("")
    page.evaluate("""() => {
        const files = new DataTransfer();
        files.items.add(new File(['this is not a plugin either'], 'dropped.wasm'));
        const form = document.getElementById('upload');
        for (const type of ['dragover', 'drop']) {
            form.dispatchEvent(new DragEvent(type, {dataTransfer: files, bubbles: true, cancelable: true}));
        }
    }""")
    expect(page.locator("#upload-error")).to_contain_text("dropped: the file is not WebAssembly")
    page.get_by_label("File").set_input_files(os.path.join(args.plugins_dir, "wasmcron.examples.stats.wasm"))
    page.get_by_label("Name").fill("console.stats")
    page.get_by_role("button", name="Upload", exact=True).click()
    row = page.locator("tr[data-plugin='console.stats']")
    expect(row).to_contain_text("Summarize", timeout=TIMEOUT_MS)
    # Replace: a new version of that plugin, from the row's own file picker.
    before = call("GET", "/api/v1/plugins/console.stats")["uploaded_time"]
    with page.expect_file_chooser() as chooser:
        row.get_by_role("button", name="Replace console.stats").click()
    chooser.value.set_files(os.path.join(args.plugins_dir, "wasmcron.examples.text_command.wasm"))
    expect(row).to_contain_text("TextStats", timeout=TIMEOUT_MS)
    assert call("GET", "/api/v1/plugins/console.stats")["uploaded_time"] != before
    call("POST", "/api/v1/jobs", {
        "name": "Uses console.stats", "job_class_string": "console.stats.TextStats",
        "trigger": "interval", "trigger_params": {"interval": 86400}})
    shot(page, "plugins")
    row.get_by_role("button", name="Delete console.stats").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Delete plugin", exact=True).click()
    # The server's 409 opens the dialog again at once (so it may never be seen hidden
    # in between), naming the jobs that use the plugin.
    expect(dialog).to_contain_text("is used by 1 job(s)")
    expect(dialog).to_contain_text("Uses console.stats")
    confirm(page, "Delete anyway")
    expect(page.locator("tr[data-plugin='console.stats']")).to_have_count(0)
    names = [p["name"] for p in call("GET", "/api/v1/plugins")["plugins"]]
    assert "console.stats" not in names, names


def audit(page):
    step("the audit log")
    page.goto(BASE + "/#/audit")
    table = page.locator("#audit-table")
    for event in ["added", "modified", "paused", "resumed", "custom_run", "plugin_uploaded", "plugin_deleted"]:
        expect(table).to_contain_text(event)
    shot(page, "audit")


def roles(browser):
    """Access control, against a second server that has tokens (made by tests/console.rs
    with `wasmcron token create`): the login form, what a viewer and an operator are
    offered, the server's own 403 for a viewer's change, the CSRF header the console
    sends with an operator's changes, and logging out."""
    step("access control: login, a viewer reads, an operator changes jobs, logout")
    auth = args.auth_base.rstrip("/")
    req = urllib.request.Request(auth + "/api/v1/jobs", method="POST", data=json.dumps({
        "name": "Guarded job", "job_class_string": "wasmcron.testing.Echo", "pub_args": [1],
        "trigger": "interval", "trigger_params": {"interval": 86400}}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {args.admin_token}"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 201, r.status
    context = browser.new_context()
    page = context.new_page()
    watch(page)
    csrf_seen = []
    page.on("request", lambda r: r.method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS")
            and "/api/v1/jobs/" in r.url and csrf_seen.append(r.headers.get("x-csrf-token")))

    def log_in(token, role):
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
        expect(page.locator("#who")).to_contain_text(role)

    page.goto(auth + "/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("API token").fill("wcr_not-a-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).not_to_be_empty()
    page.set_viewport_size({"width": 320, "height": 800})
    assert_fits(page, "the login form with its error")
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(args.viewer_token, "viewer")
    shot(page, "login-viewer")
    # A viewer reads everything and is offered no change.
    expect(page.locator("#jobs-table")).to_contain_text("Guarded job")
    expect(page.get_by_role("link", name="Add job")).to_have_count(0)
    expect(page.get_by_role("button", name="Pause Guarded job")).to_have_count(0)
    page.goto(auth + "/#/plugins")
    expect(page.locator("#plugins-table")).to_be_visible()
    expect(page.locator("#upload")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete wasmcron.testing")).to_have_count(0)
    page.goto(auth + "/#/jobs/new")
    expect(page.get_by_role("alert")).to_have_text("The viewer role may read jobs but not change them.")
    # Were it offered, the server refuses a viewer's change, and the console says why.
    page.goto(auth + "/#/jobs")
    page.reload()
    expect(page.locator("#jobs-table")).to_contain_text("Guarded job")
    page.evaluate("""async () => {
        const { api } = await import('/console/api.js');
        const { notify } = await import('/console/dom.js');
        const jobs = (await api('GET', '/jobs')).jobs;
        try { await api('POST', `/jobs/${jobs[0].job_id}/pause`); } catch (e) { notify(e.message, 'error'); }
    }""")
    expect(page.locator("#notice")).to_contain_text("this needs the operator role; token viewer is a viewer")
    page.get_by_role("button", name="Log out").click()
    # An operator changes jobs (each change with the session's CSRF token) but not plugins.
    log_in(args.operator_token, "operator")
    csrf_seen.clear()
    row = page.locator("tr", has=page.get_by_role("link", name="Guarded job"))
    row.get_by_role("button", name="Pause Guarded job").click()
    expect(row.locator(".badge").last).to_have_text("paused")
    row.get_by_role("button", name="Resume Guarded job").click()
    expect(row.locator(".badge").last).to_have_text("active")
    assert len(csrf_seen) >= 2 and all(t and len(t) == 64 for t in csrf_seen), csrf_seen
    page.goto(auth + "/#/plugins")
    expect(page.locator("#plugins-table")).to_be_visible()
    expect(page.locator("#upload")).to_have_count(0)
    # Logging out brings the login form back, and the session is gone on the server.
    page.goto(auth + "/#/jobs")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    context.close()


def keyboard(page):
    step("keyboard: the skip link and the nav are reachable with Tab")
    page.goto(BASE + "/#/jobs")
    page.reload()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    focused = lambda: page.evaluate("document.activeElement.textContent.trim()")
    page.keyboard.press("Tab")
    assert focused() == "Skip to content", focused()
    for _ in range(2):
        page.keyboard.press("Tab")
    assert focused() == "Jobs", focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Executions")).to_be_visible()


def launch(p):
    if args.browser == "firefox":
        # The "moz-firefox" channel speaks WebDriver BiDi to a stock Firefox; its
        # commands must be ones Debian's firefox-esr has (hence the Playwright version
        # pinned in requirements.txt).
        return p.firefox.launch(channel="moz-firefox", executable_path=EXECUTABLE)
    return p.chromium.launch(executable_path=EXECUTABLE, args=["--no-sandbox"])


# What has keyboard focus, and whether the user can see where it is: an outline on the
# element, or on the label that stands for it (the segmented controls hide their radios
# and outline the label).
FOCUS = """() => {
    const el = document.activeElement;
    const shown = (e) => e && getComputedStyle(e).outlineStyle !== 'none'
        && parseFloat(getComputedStyle(e).outlineWidth) > 0;
    const label = el.id ? document.querySelector(`label[for="${el.id}"]`) : null;
    const target = label && el.type === 'radio' ? label : el;
    const box = target.getBoundingClientRect();
    const style = getComputedStyle(target);
    return {
        what: `${el.tagName.toLowerCase()}#${el.id} ${(label?.textContent || el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 40)}`,
        id: el.id, tag: el.tagName, type: el.type || '',
        visible: shown(el) || (el.type === 'radio' && shown(label)),
        // A stop the user can see: not clipped away or transparent (a visually hidden
        // input), not a speck, within the width.
        onScreen: style.clip === 'auto' && parseFloat(style.opacity) > 0
            && box.width >= 4 && box.height >= 4 && box.left >= 0 && box.right <= innerWidth,
    };
}"""


def every_page(job_id):
    """Each page of the console (its route, and what shows it is ready), for `job_id`
    and its newest execution."""
    execution = call("GET", f"/api/v1/executions?job_id={job_id}&limit=1")["executions"][0]
    return [("#/jobs", "#jobs-table"), (f"#/jobs/{job_id}", "#next-runs"),
            (f"#/jobs/{job_id}/edit", "#preview li"),
            (f"#/executions/{execution['execution_id']}", "#result"),
            ("#/executions", "#executions-table"),
            ("#/plugins", "#plugins-table"), ("#/audit", "#audit-table")]


def keyboard_pages(browser, job_id):
    step("keyboard: Tab through every other page, each stop visible, none hidden or off screen")
    for route, ready in every_page(job_id):
        if route.endswith("/edit"):
            continue  # keyboard_form's walk
        # A window of its own for each page: once Tab has left a page for the browser's
        # own controls, Firefox (driven over WebDriver BiDi) no longer marks the focus
        # that Tab moves as :focus-visible in that window.
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        watch(page)
        page.goto(f"{BASE}/{route}")
        expect(page.locator(ready).first).to_be_visible()
        seen = []
        for _ in range(200):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement === document.body"):
                break
            f = page.evaluate(FOCUS)
            if seen and f["what"] == seen[0]:
                break  # round again
            seen.append(f["what"])
            assert f["visible"], f"{route}: no visible focus on {f['what']} (after {seen[-4:]})"
            assert f["onScreen"], f"{route}: the focused {f['what']} cannot be seen (after {seen[-4:]})"
        else:
            raise AssertionError(f"{route}: Tab went round more than 200 stops: {seen[:20]} …")
        assert len(seen) > 6, f"{route}: only {seen}"
        context.close()


def keyboard_form(page):
    step("keyboard: the job form from the first field to Create, every stop with a visible focus")
    page.goto(BASE + "/#/jobs")
    page.get_by_role("link", name="Add job").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Add a job")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.keyboard.type("Typed with keys")
    stops = []
    for _ in range(80):
        page.keyboard.press("Tab")
        f = page.evaluate(FOCUS)
        stops.append(f["what"])
        assert f["visible"], f"no visible focus on {f['what']} (after {stops[-5:]})"
        assert f["onScreen"], f"the focused {f['what']} is off screen"
        if f["id"] == "args-form":
            # Arrow keys move between the segmented control's options, as radios do.
            page.keyboard.press("ArrowRight")
            expect(page.get_by_label("Arguments as JSON (an array or an object)")).to_be_visible()
            page.keyboard.press("ArrowLeft")
            expect(page.get_by_label("argument1")).to_be_visible()
        if f["id"] == "trigger-cron":
            page.keyboard.press("ArrowRight")
            expect(page.get_by_label("Every (seconds)")).to_be_visible()
            assert page.evaluate(FOCUS)["visible"], "no visible focus on the Interval option"
        if f["id"] == "f-interval":
            page.keyboard.press("Control+a")
            page.keyboard.type("3600")
            expect(page.locator("#schedule-words")).to_have_text("every hour")
        if f["tag"] == "BUTTON" and "Create job" in f["what"]:
            break
    else:
        raise AssertionError(f"Tab never reached Create job: {stops}")
    for wanted in ["f-job_class_string", "args-form", "trigger-cron", "f-interval", "f-timezone"]:
        assert any(f"#{wanted} " in s for s in stops), f"Tab skipped #{wanted}: {stops}"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Typed with keys")).to_be_visible()
    expect(page.locator(".lead")).to_contain_text("every hour")

    step("keyboard: a confirm dialog takes the focus, Escape cancels it and gives it back")
    page.goto(BASE + "/#/jobs")
    delete = page.get_by_role("button", name="Delete Typed with keys")
    delete.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Delete job")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(delete).to_be_focused()
    expect(page.get_by_role("link", name="Typed with keys")).to_be_visible()
    # And confirmed with the keyboard alone: Enter on the focused button.
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("button", name="Delete job")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Typed with keys")).to_have_count(0)


def assert_fits(page, where):
    """Nothing wider than the screen: the page, or a table in its scrolling box."""
    wide = page.evaluate("""() => {
        const out = [];
        const root = document.documentElement;
        if (root.scrollWidth > root.clientWidth) out.push(`the page: ${root.scrollWidth} px`);
        for (const w of document.querySelectorAll('.table-wrap')) {
            if (w.scrollWidth > w.clientWidth) out.push(`a table: ${w.scrollWidth} px in ${w.clientWidth}`);
        }
        return out;
    }""")
    width = page.viewport_size["width"]
    assert not wide, f"{where} is wider than a {width} px screen: {wide}"


def narrow(page, job_id):
    # 320 CSS px: the width WCAG's reflow criterion asks a page to fit without scrolling
    # sideways (a small phone).
    step("a narrow screen (320 px): no page wider than the screen, tables as cards")
    page.set_viewport_size({"width": 320, "height": 800})
    try:
        for route, ready in every_page(job_id):
            page.goto(f"{BASE}/{route}")
            expect(page.locator(ready).first).to_be_visible()
            assert_fits(page, route)
            if ready.endswith("-table"):
                expect(page.locator(f"{ready} thead")).to_be_hidden()
            if route.endswith("/edit"):
                shot(page, "job-form-narrow")
    finally:
        page.set_viewport_size({"width": 1280, "height": 800})


def main():
    bad = tempfile.NamedTemporaryFile(suffix=".wasm", delete=False)
    bad.write(b"this is not a plugin\n")
    bad.close()
    with sync_playwright() as p:
        browser = launch(p)
        total = first_load(browser)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(10_000)
        page = context.new_page()
        watch(page)
        try:
            page.goto(BASE + "/")
            words(page)
            job_id = create_and_edit(page)
            pause_resume_run(page, job_id)
            cancel_long_run(page)
            executions_list(page)
            executions_paging(page)
            plugins(page, bad.name)
            audit(page)
            keyboard(page)
            keyboard_form(page)
            keyboard_pages(browser, job_id)
            narrow(page, job_id)
            roles(browser)
        except Exception:
            print("page text at the failure:\n" + page.inner_text("body")[:4000], file=sys.stderr)
            raise
        finally:
            browser.close()
    assert not problems, "errors in the page:\n" + "\n".join(problems)
    print(f"all console flows passed; first load {total} bytes")


main()
