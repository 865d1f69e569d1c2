#!/usr/bin/python3
"""End-to-end test of the creators' page in headless Chromium.

Registers sample works in a fresh catalog, starts `imprint serve`, opens the page in Debian's
Chromium over the DevTools protocol, uploads an edited copy of a work and an unrelated image
through the page's file input, and reads the verdicts the page shows. Saves a screenshot.
Uses only Debian packages: chromium and python3-websocket.
"""
import argparse
import base64
import json
import os
import shutil
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


def wait_for(what, read, seconds=60):
    """Polls read() until it returns something; a condition, not a fixed wait."""
    end = time.time() + seconds
    while time.time() < end:
        value = read()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def serve_http_port(log_path, serve):
    """The HTTP port `imprint serve --http 127.0.0.1:0` bound, from the banner it prints once its
    listeners are up ("HTTP on 127.0.0.1:PORT")."""
    def read():
        if serve.poll() is not None:
            raise RuntimeError("imprint serve exited: " + read_text(log_path))
        m = re.search(r"HTTP on 127\.0\.0\.1:(\d+)", read_text(log_path))
        return int(m.group(1)) if m else None
    return wait_for("imprint serve's banner", read)


def devtools_port(user_data_dir):
    """The port Chromium bound for --remote-debugging-port=0, from the DevToolsActivePort file it
    writes once listening."""
    def read():
        lines = read_text(os.path.join(user_data_dir, "DevToolsActivePort")).splitlines()
        return int(lines[0]) if len(lines) >= 2 and lines[0].isdigit() else None
    return wait_for("Chromium's DevToolsActivePort", read)


def wait_http(url, seconds=30):
    end = time.time() + seconds
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("nothing answered at " + url)


class DevTools:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return r["result"].get("value")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imprint", required=True)
    ap.add_argument("--samples", required=True, help="the make_samples benchmark tool")
    ap.add_argument("--screenshot", required=True)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="imprint-browser-")
    procs = []
    try:
        subprocess.run([args.samples, work], check=True, stdout=subprocess.DEVNULL)
        catalog = os.path.join(work, "catalog")
        subprocess.run([args.imprint, "register", "--catalog", catalog, "--owner", "Page Test",
                        os.path.join(work, "works")], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        # Both listen on ports they choose themselves and report (no free-port-then-bind race).
        serve_log = os.path.join(work, "serve.log")
        with open(serve_log, "w") as log:
            serve = subprocess.Popen([args.imprint, "serve", "--catalog", catalog, "--listen", "127.0.0.1:0",
                                      "--http", "127.0.0.1:0"],
                                     stdout=subprocess.DEVNULL, stderr=log)
        procs.append(serve)
        http_port = serve_http_port(serve_log, serve)
        wait_http(f"http://127.0.0.1:{http_port}/healthz")

        chrome = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                   "--no-first-run", "--disable-background-networking",
                                   "--disable-component-update", "--disable-sync",
                                   f"--user-data-dir={os.path.join(work, 'chrome')}",
                                   "--remote-debugging-port=0", "--window-size=1000,1100",
                                   "about:blank"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(chrome)
        debug_port = devtools_port(os.path.join(work, "chrome"))
        wait_http(f"http://127.0.0.1:{debug_port}/json/version")
        targets = json.loads(wait_http(f"http://127.0.0.1:{debug_port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        dt = DevTools(page["webSocketDebuggerUrl"])
        dt.call("Page.enable")
        dt.call("Page.navigate", url=f"http://127.0.0.1:{http_port}/")
        for _ in range(100):
            if dt.evaluate("document.readyState") == "complete" and dt.evaluate("!!document.getElementById('files')"):
                break
            time.sleep(0.1)

        uploads = os.path.join(work, "uploads")
        copy = next(os.path.join(uploads, f) for f in sorted(os.listdir(uploads)) if "mirrored" in f)
        unrelated = next(os.path.join(uploads, f) for f in sorted(os.listdir(uploads)) if "unrelated" in f)
        doc = dt.call("DOM.getDocument")
        node = dt.call("DOM.querySelector", nodeId=doc["root"]["nodeId"], selector="#files")["nodeId"]
        dt.call("DOM.setFileInputFiles", nodeId=node, files=[copy, unrelated])

        results = []
        for _ in range(200):
            results = dt.evaluate("""JSON.stringify([...document.querySelectorAll('.result')].map(r => ({
                file: r.dataset.file, verdict: r.querySelector('.verdict').dataset.verdict,
                text: r.innerText})))""")
            results = json.loads(results)
            if len(results) == 2 and all(r["verdict"] != "pending" for r in results):
                break
            time.sleep(0.1)
        for _ in range(50):  # let the thumbnails finish loading before the screenshot
            if dt.evaluate("[...document.images].every(i => i.complete)"):
                break
            time.sleep(0.1)
        shot = dt.call("Page.captureScreenshot", format="png")
        with open(args.screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print("screenshot:", args.screenshot)
        by_file = {r["file"]: r for r in results}
        for r in results:
            print(r["file"], "->", r["verdict"], "|", " ".join(r["text"].split()))
        ok = True
        if by_file.get(os.path.basename(copy), {}).get("verdict") != "copy":
            print("FAIL: the edited copy was not reported as a copy", file=sys.stderr)
            ok = False
        elif "Same picture" not in by_file[os.path.basename(copy)]["text"]:
            print("FAIL: the copy's card does not explain the match", file=sys.stderr)
            ok = False
        if by_file.get(os.path.basename(unrelated), {}).get("verdict") != "none":
            print("FAIL: the unrelated image was not reported as no copy", file=sys.stderr)
            ok = False
        # The page answers anyone, so it records no usage, though this server records usage
        # (a SIGTERM commits what was recorded).
        if "usage records: on" not in read_text(serve_log):
            print("FAIL: the server was not recording usage", file=sys.stderr)
            ok = False
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        usage = subprocess.run([args.imprint, "usage", "--json", "--catalog", catalog],
                               capture_output=True, text=True)
        if usage.returncode != 0 or usage.stdout.strip():
            print("FAIL: the page's checks left usage records:", usage.returncode, usage.stdout,
                  usage.stderr, file=sys.stderr)
            ok = False
        return 0 if ok else 1
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
