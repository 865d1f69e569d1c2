// The page where a creator drops images and reads, per image, whether the catalog holds a copy.
// Plain language first; numbers second; no internals (no hashes, no licence machinery).
#include "creator_page.h"

namespace imprint::server {

const char kCreatorPageHtml[] = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Has my art been copied? · imprint</title>
<style>
  :root { --ink:#1d2330; --muted:#5b6475; --line:#d9dde5; --bg:#f6f7f9; --copy:#b3261e; --maybe:#a15c00; --none:#1e6b3a; }
  * { box-sizing: border-box; }
  body { margin:0; font:16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--ink); background:var(--bg); }
  main { max-width: 920px; margin: 0 auto; padding: 32px 20px 64px; }
  h1 { font-size: 28px; margin: 0 0 4px; }
  p.lead { color: var(--muted); margin: 0 0 24px; }
  #drop { display: block; border: 2px dashed #9aa3b5; border-radius: 14px; background: #fff; padding: 36px; text-align: center; cursor: pointer; }
  #drop.over { border-color: #3457d5; background: #eef2ff; }
  #drop strong { display:block; font-size: 18px; margin-bottom: 6px; }
  #results { margin-top: 28px; display: grid; gap: 16px; }
  .result { background:#fff; border:1px solid var(--line); border-radius: 12px; padding: 16px; display:grid; grid-template-columns: 120px 1fr; gap: 16px; }
  .result img.preview { width:120px; height:120px; object-fit: cover; border-radius: 8px; background:#eee; }
  .name { font-weight: 600; word-break: break-all; }
  .verdict { font-size: 18px; font-weight: 700; margin: 4px 0 6px; }
  .verdict[data-verdict="copy"] { color: var(--copy); }
  .verdict[data-verdict="possible"] { color: var(--maybe); }
  .verdict[data-verdict="none"] { color: var(--none); }
  .verdict[data-verdict="error"], .verdict[data-verdict="pending"] { color: var(--muted); }
  .match { display:flex; gap:12px; align-items:center; margin-top:8px; padding-top:8px; border-top:1px solid var(--line); }
  .match img { width:72px; height:72px; object-fit:cover; border-radius:6px; background:#eee; }
  .detail { color: var(--muted); font-size: 14px; }
</style>
</head>
<body>
<main>
  <h1>Has my art been copied?</h1>
  <p class="lead">Drop your images below. Each one is compared with the catalog on this server, and you see where copies were found. Your images are not stored.</p>
  <label id="drop" for="files">
    <strong>Drop images here, or click to choose</strong>
    <span class="detail">JPEG, PNG, WebP, GIF, BMP or TIFF</span>
    <input id="files" type="file" accept="image/*" multiple hidden>
  </label>
  <section id="results" aria-live="polite"></section>
</main>
<script>
const results = document.getElementById('results');
const drop = document.getElementById('drop');
const input = document.getElementById('files');

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function check(file) {
  const card = el('article', 'result');
  card.dataset.file = file.name;
  const img = el('img', 'preview');
  img.alt = '';
  img.src = URL.createObjectURL(file);
  const body = el('div');
  body.append(el('div', 'name', file.name));
  const verdict = el('div', 'verdict', 'Checking…');
  verdict.dataset.verdict = 'pending';
  const message = el('div', 'detail');
  body.append(verdict, message);
  card.append(img, body);
  results.prepend(card);
  try {
    const resp = await fetch('/api/v1/check', { method: 'POST', body: file,
      headers: { 'Content-Type': file.type || 'application/octet-stream' } });
    const data = await resp.json();
    verdict.dataset.verdict = data.verdict;
    verdict.textContent = data.headline;
    message.textContent = data.message;
    for (const m of data.matches || []) {
      const row = el('div', 'match');
      if (m.thumbnail) { const t = el('img'); t.src = m.thumbnail; t.alt = ''; row.append(t); }
      const text = el('div');
      const title = m.url ? Object.assign(el('a', '', m.item), { href: m.url, target: '_blank', rel: 'noopener' })
                          : el('strong', '', m.item);
      text.append(title, el('div', 'detail', m.explanation));
      row.append(text);
      body.append(row);
    }
  } catch (e) {
    verdict.dataset.verdict = 'error';
    verdict.textContent = 'Could not check this image';
    message.textContent = String(e);
  }
}

function handle(files) { for (const f of files) check(f); }
input.addEventListener('change', () => handle(input.files));
drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', e => { e.preventDefault(); drop.classList.remove('over'); handle(e.dataTransfer.files); });
</script>
</body>
</html>
)html";

}  // namespace imprint::server
