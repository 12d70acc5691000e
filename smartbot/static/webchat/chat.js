// The web chat page: the conversation so far (both sides, a page at a time), then a long poll that
// keeps asking for new replies for as long as the page is open, and the message box.
//
// The poll never stops on its own: an answer with nothing new is followed by the next poll at once,
// a failure by the next after a growing pause, an answer saying the server is busy by a short one.
// Only a tab hidden for longer than HIDDEN_STOP stops asking, until it is shown again; nothing is
// missed meanwhile, since the next poll asks for everything after the last reply the page has.

import { createBubbles, text } from "./bubbles.js";
import { Previews } from "./previews.js";

const HIDDEN_STOP = 120000;         // ms a hidden tab keeps polling
const BUSY_PAUSE = 3000;            // ms before asking again when the server had no waiting place free
const MIN_GAP = 300;                // ms between two polls' starts, whatever the answers
const BACKOFF_MOST = 30000;         // ms: the longest pause after failures in a row
const TEXTAREA_MOST = 192;          // px the message box grows to before it scrolls
const STILL_WAITING = 120;          // s: a message this recent with no answer yet still gets its note

const config = JSON.parse(document.getElementById("chat-config").textContent);
const say = (key, values) => text(config, key, values);
const log = document.getElementById("log");
const list = document.getElementById("messages");
const empty = document.getElementById("empty");
const olderButton = document.getElementById("older");
const status = document.getElementById("status");
const connection = document.getElementById("connection");
const form = document.getElementById("composer");
const input = document.getElementById("text");

const bubbles = createBubbles(config, announce);
const previews = new Previews(bubbles, placeAnswer);
const shown = new Set();            // entry ids on the page
const sent = [];                    // client ids of the messages sent from this page, in order
const notes = new Map();            // client id -> its "thinking" note, until the reply comes
const replied = new Set();          // client ids a reply has come for
const presses = new Map();          // press id -> its buttons, until the press is answered
let last = 0;                       // the newest reply the page has: the poll asks for what follows
let older = null;                   // where the history before the shown part ends (null: no more)
let hiddenSince = document.hidden ? Date.now() : null;
let wake = null;

// -- talking to the server -------------------------------------------------------------------
async function getJson(url, options) {
  const response = await fetch(url, { credentials: "same-origin", ...options });
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (!response.ok) {
    const error = new Error((data && data.error) || response.statusText || String(response.status));
    error.retryAfter = Number(response.headers.get("Retry-After")) || 0;
    throw error;
  }
  return data;
}

function historyUrl(before) {
  return "/chat/api/history?limit=" + config.historyPage + (before ? "&before=" + encodeURIComponent(before) : "");
}

// A decision button: its data goes back as a press; the answer comes on the feed like any reply.
function postPress(data, clientId) {
  return getJson("/chat/api/press", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Requested-With": "smartbot" },
    body: JSON.stringify({ data, client_id: clientId }),
  });
}

function post(words, clientId, files) {
  return getJson("/chat/api/messages", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Requested-With": "smartbot" },
    body: JSON.stringify(files && files.length ? { text: words, client_id: clientId, files } : { text: words, client_id: clientId }),
  });
}

// Files attached for the next message: uploaded at once (the server checks them), sent by id.
const fileInput = document.getElementById("file");
const attachedNote = document.getElementById("attached");
let attached = [];

function showAttached() {
  attachedNote.hidden = attached.length === 0;
  attachedNote.textContent = attached.length ? say("attached", { names: attached.map((a) => a.name).join(", ") }) : "";
}

fileInput.addEventListener("change", async () => {
  for (const file of Array.from(fileInput.files)) {
    const body = new FormData();
    body.append("file", file);
    try {
      attached.push(await getJson("/chat/api/files", { method: "POST", headers: { "X-Requested-With": "smartbot" }, body }));
    } catch (error) {
      const note = bubbles.note(say("upload_failed", { name: file.name, reason: error.message }), true);
      list.appendChild(note);
      announce(note.textContent);
      scrollToEnd();
    }
  }
  fileInput.value = "";
  showAttached();
});

function newId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// A pause that ends early when the tab is shown again (or the hidden tab's wait ends).
function pause(ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      wake = null;
      resolve();
    };
    const timer = ms === Infinity ? null : setTimeout(done, ms);
    wake = done;
  });
}

function backoff(failures, retryAfter) {
  if (retryAfter) return retryAfter * 1000;
  return Math.min(BACKOFF_MOST, 1000 * 2 ** (failures - 1)) * (0.75 + Math.random() / 2);
}

// -- the page ----------------------------------------------------------------------------------
function announce(words) {
  status.textContent = "";
  setTimeout(() => { status.textContent = words; }, 50);
}

function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

function scrollToEnd() {
  log.scrollTop = log.scrollHeight;
}

function showEmpty() {
  empty.hidden = list.children.length > 0;
}

function entryNode(entry) {
  if (shown.has(entry.id)) return null;
  shown.add(entry.id);
  if (entry.side === "me") {
    const node = bubbles.mine(entry.text, entry.at);
    node.dataset.clientId = entry.client_id;
    return node;
  }
  const node = bubbles.bot(entry.text, entry.format, entry.at);
  if (entry.file) bubbles.attach(node, entry.file);
  if (entry.buttons) node.appendChild(bubbles.decisions(entry.buttons, press));
  if (entry.press) settlePress(entry);
  if (entry.reply_to) {
    node.dataset.replyTo = entry.reply_to;
    replied.add(entry.reply_to);
    previews.answered.add(entry.reply_to);
  }
  return node;
}

async function press(data, group) {
  const pressId = "press-" + newId();
  for (const button of group.querySelectorAll("button")) button.disabled = true;
  presses.set(pressId, group);
  try {
    await postPress(data, pressId.slice("press-".length));
  } catch (error) {
    presses.delete(pressId);
    for (const button of group.querySelectorAll("button")) button.disabled = false;
    announce(say("error", { reason: error.message }));
  }
}

// The answer to a press: a decision takes the buttons away, a refusal gives them back.
function settlePress(entry) {
  const group = presses.get(entry.reply_to);
  if (!group) return;
  presses.delete(entry.reply_to);
  if (entry.press === "update") group.remove();
  else for (const button of group.querySelectorAll("button")) button.disabled = false;
}

// After a reload: a note under the visitor's last messages that are not answered yet (and recent).
function awaitAnswers(entries) {
  const now = Date.now() / 1000;
  for (const entry of entries) {
    if (entry.side !== "me" || replied.has(entry.client_id) || now - entry.at > STILL_WAITING) continue;
    const mine = list.querySelector(`[data-client-id="${CSS.escape(entry.client_id)}"]`);
    if (!mine) continue;
    const note = bubbles.note(say("waiting"));
    note.dataset.replyTo = entry.client_id;
    notes.set(entry.client_id, note);
    mine.after(note);
  }
}

// Where an answer to `replyTo` goes: in place of its note or preview, else at the end.
function placeAnswer(replyTo, node) {
  node.dataset.replyTo = replyTo;
  const note = notes.get(replyTo);
  notes.delete(replyTo);
  if (note && note.isConnected) note.replaceWith(node);
  else list.appendChild(node);
}

function receive(entries) {
  const stick = nearBottom();
  for (const entry of entries) {
    if (entry.new_conversation) {
      shown.add(entry.id);
      startAfresh(entry.reply_to);
      continue;
    }
    const node = entryNode(entry);
    if (!node) continue;
    const key = entry.reply_to;
    if (!key) {
      list.appendChild(node);
      continue;
    }
    const preview = previews.finish(key);
    if (preview && preview.isConnected) {
      preview.replaceWith(node);
      const note = notes.get(key);
      if (note) note.remove();
      notes.delete(key);
    } else {
      placeAnswer(key, node);
    }
  }
  showEmpty();
  if (stick) scrollToEnd();
}

// A /reset was answered (typed here, sent by the button, or from another tab): the page keeps only
// what was sent after it, as a reload would show it.
function startAfresh(resetId) {
  const at = sent.indexOf(resetId);
  const keep = new Set(sent.slice(at + 1));
  for (const node of [...list.children]) {
    const owner = node.dataset.clientId || node.dataset.replyTo;
    if (!owner || !keep.has(owner)) node.remove();
  }
  for (const key of [...notes.keys()]) if (!keep.has(key)) notes.delete(key);
  previews.keepOnly(keep);
  older = null;
  olderButton.hidden = true;
  showEmpty();
}

async function loadOlder() {
  olderButton.disabled = true;
  log.setAttribute("aria-busy", "true");
  try {
    const data = await getJson(historyUrl(older));
    const height = log.scrollHeight;
    const top = log.scrollTop;
    const nodes = data.messages.map(entryNode).filter(Boolean);
    list.prepend(...nodes);
    log.scrollTop = top + (log.scrollHeight - height);
    older = data.older;
    olderButton.hidden = !older;
    if (!older && nodes.length) {
      nodes[0].tabIndex = -1;
      nodes[0].focus();
    }
    showEmpty();
  } catch (error) {
    announce(error.message);
  } finally {
    olderButton.disabled = false;
    log.setAttribute("aria-busy", "false");
  }
}

// -- the live feed ---------------------------------------------------------------------------
async function follow() {
  let failures = 0;
  for (;;) {
    if (hiddenSince !== null && Date.now() - hiddenSince > HIDDEN_STOP) {
      await pause(Infinity);
      continue;
    }
    const started = Date.now();
    let delay = 0;
    try {
      const data = await getJson("/chat/api/messages?after=" + last + "&wait=" + config.maxWait);
      if (failures) setConnected(true);
      failures = 0;
      receive(data.messages || []);
      last = data.last;
      previews.update(data.previews);
      if (data.busy) delay = BUSY_PAUSE;
    } catch (error) {
      failures += 1;
      if (failures === 1) setConnected(false);
      delay = backoff(failures, error.retryAfter);
    }
    await pause(Math.max(delay, MIN_GAP - (Date.now() - started)));
  }
}

function setConnected(connected) {
  connection.textContent = say(connected ? "online" : "offline");
  connection.hidden = false;
  if (connected) setTimeout(() => { connection.hidden = true; }, 3000);
}

document.addEventListener("visibilitychange", () => {
  hiddenSince = document.hidden ? Date.now() : null;
  if (!document.hidden && wake) wake();
});

// -- the message box -------------------------------------------------------------------------
async function sendMessage(words, options) {
  const clientId = newId();
  sent.push(clientId);
  let node = null;
  if (!options.quiet) {
    node = bubbles.mine(options.shown || words, Date.now() / 1000);
    node.dataset.clientId = clientId;
    list.appendChild(node);
    showEmpty();
    scrollToEnd();
  }
  for (const old of list.querySelectorAll(".note.error")) old.remove();
  try {
    await post(words, clientId, options.files);
    if (node && !replied.has(clientId) && !previews.shown.has(clientId)) {
      const note = bubbles.note(say("waiting"));
      note.dataset.replyTo = clientId;
      notes.set(clientId, note);
      node.after(note);
    }
  } catch (error) {
    if (node) node.remove();
    if (!options.quiet && !input.value) input.value = words;
    const note = bubbles.note(say("error", { reason: error.message }), true);
    list.appendChild(note);
    announce(note.textContent);
    showEmpty();
    scrollToEnd();
  }
}

function autosize() {
  input.style.height = "auto";
  input.style.height = Math.min(input.scrollHeight + 2, TEXTAREA_MOST) + "px";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const words = input.value.trim();
  if (!words && !attached.length) return;
  const files = attached.map((a) => a.file_id);
  const shownWords = words || attached.map((a) => "[" + a.name + "]").join(" ");
  attached = [];
  showAttached();
  input.value = "";
  autosize();
  sendMessage(words, { files, shown: shownWords });
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    form.requestSubmit();
  }
});
input.addEventListener("input", autosize);

// "New conversation": what /reset does, and an empty page at once.
document.getElementById("new-conversation").addEventListener("click", () => {
  list.replaceChildren();
  notes.clear();
  previews.keepOnly(new Set());
  older = null;
  olderButton.hidden = true;
  showEmpty();
  announce(say("new_conversation_started"));
  sendMessage("/reset", { quiet: true });
  input.focus();
});

olderButton.addEventListener("click", loadOlder);

// -- start -----------------------------------------------------------------------------------
async function start() {
  let data = null;
  for (let failures = 1; data === null; failures += 1) {
    try {
      data = await getJson(historyUrl(null));
    } catch (error) {
      empty.textContent = say("load_failed", { reason: error.message });
      await pause(backoff(failures, error.retryAfter));
    }
  }
  list.append(...data.messages.map(entryNode).filter(Boolean));
  awaitAnswers(data.messages);
  last = data.last;
  older = data.older;
  olderButton.hidden = !older;
  empty.textContent = say("empty");
  log.setAttribute("aria-busy", "false");
  showEmpty();
  scrollToEnd();
  follow();
}

if (window.matchMedia("(pointer: fine)").matches) input.focus();
start();
