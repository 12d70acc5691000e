// Message bubbles: who wrote it (said to screen readers), the text, when (local time, in the page's
// language), and a copy button on the bot's messages. The bot's markdown replies are rendered;
// everything else (the visitor's words, plain replies such as a command's output) is shown exactly
// as written, spaces and line breaks kept.

import { renderMarkdown } from "./markdown.js";

export function text(config, key, values) {
  let out = config.texts[key] || key;
  for (const [name, value] of Object.entries(values || {})) out = out.split("{" + name + "}").join(value);
  return out;
}

export function createBubbles(config, announce) {
  const lang = config.lang;

  function shell(side, label) {
    const node = document.createElement("div");
    node.className = "msg " + side;
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = label + ": ";
    node.appendChild(who);
    return node;
  }

  function body(node, words, format) {
    const old = node.querySelector(".md, .plain");
    const div = document.createElement("div");
    if (format === "markdown") {
      div.className = "md";
      div.appendChild(renderMarkdown(words));
    } else {
      div.className = "plain";
      div.textContent = words;
    }
    if (old) old.replaceWith(div);
    else node.appendChild(div);
  }

  function meta(node, at) {
    const line = document.createElement("div");
    line.className = "meta";
    const date = new Date(at * 1000);
    const time = document.createElement("time");
    time.dateTime = date.toISOString();
    time.textContent = shortTime(date, lang);
    time.title = new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "medium" }).format(date);
    line.appendChild(time);
    node.appendChild(line);
    return line;
  }

  function copyButton(line, words) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = text(config, "copy");
    button.setAttribute("aria-label", text(config, "copy_label"));
    button.addEventListener("click", () => {
      copy(words).then(() => {
        button.textContent = text(config, "copied");
        announce(text(config, "copied"));
        setTimeout(() => { button.textContent = text(config, "copy"); }, 2000);
      }, () => announce(text(config, "copy_failed")));
    });
    line.appendChild(button);
  }

  return {
    mine(words, at) {
      const node = shell("me", text(config, "you"));
      body(node, words, "plain");
      meta(node, at);
      return node;
    },
    bot(words, format, at) {
      const node = shell("bot", config.bot);
      body(node, words, format);
      copyButton(meta(node, at), words);
      return node;
    },
    // A file in a reply, in place of its "[name]" text: an image shown (and a link to it), anything
    // else a download link. The server serves it only to this chat.
    attach(node, file) {
      const box = document.createElement("div");
      box.className = "file";
      if (file.mime.startsWith("image/")) {
        const image = document.createElement("img");
        image.src = file.url;
        image.alt = file.name;
        image.loading = "lazy";
        box.appendChild(image);
      }
      const link = document.createElement("a");
      link.href = file.url;
      link.download = file.name;
      link.textContent = text(config, "download", { name: file.name });
      box.appendChild(link);
      node.querySelector(".md, .plain").replaceWith(box);
      const copy = node.querySelector(".copy");     // its text is only the file's name
      if (copy) copy.remove();
    },
    // An approval's Approve / Deny: `press(data, group)` is called with the pressed button's data.
    decisions(buttons, press) {
      const group = document.createElement("div");
      group.className = "decisions";
      group.setAttribute("role", "group");
      for (const item of buttons) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = item.approve ? "approve" : "deny";
        button.textContent = item.label;
        button.addEventListener("click", () => press(item.data, group));
        group.appendChild(button);
      }
      return group;
    },
    note(words, isError) {
      const node = document.createElement("p");
      node.className = "msg note" + (isError ? " error" : "");
      node.textContent = words;
      return node;
    },
    // A reply still being written: not read out while it grows (the final reply is).
    preview() {
      const node = shell("bot preview", config.bot);
      node.setAttribute("aria-hidden", "true");
      const line = document.createElement("div");
      line.className = "meta";
      const writing = document.createElement("span");
      writing.className = "writing";
      writing.textContent = text(config, "writing");
      line.appendChild(writing);
      node.appendChild(line);
      return node;
    },
    grow(node, words) {
      const line = node.querySelector(".meta");
      body(node, words, "markdown");
      node.appendChild(line);
    },
  };
}

function shortTime(date, lang) {
  const now = new Date();
  const options = { hour: "2-digit", minute: "2-digit" };
  if (date.toDateString() !== now.toDateString()) {
    options.month = "short";
    options.day = "numeric";
    if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  }
  return new Intl.DateTimeFormat(lang, options).format(date);
}

// The clipboard API needs a secure context (HTTPS or localhost); elsewhere the old way.
function copy(words) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(words);
  return new Promise((resolve, reject) => {
    const area = document.createElement("textarea");
    area.value = words;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    if (done) resolve();
    else reject(new Error("copy refused"));
  });
}
