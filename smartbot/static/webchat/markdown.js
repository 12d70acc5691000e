// Markdown from the model, rendered into DOM nodes for a chat bubble.
//
// Never through HTML: every piece of text becomes a text node, so a `<script>` or any other markup
// in a reply is shown as the characters it is. Links are made only for http, https and mailto URLs
// (anything else stays text), open in a new tab and send no referrer. Images become links: the page
// loads nothing from elsewhere.
//
// What it knows: paragraphs (a single newline is a line break, as people write in a chat), ATX
// headings, fenced code blocks (an unclosed fence runs to the end, as in a reply still being
// written), bullet and numbered lists (nested by indentation), block quotes, rules, simple tables,
// and inline code, bold, italics, strikethrough, links, <autolinks> and bare URLs.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*)|$)/;
const TABLE_RULE = /^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const MOST_INLINE = 20000;          // a longer paragraph is shown as plain text: emphasis costs more
const LINK_SCHEMES = ["http:", "https:", "mailto:"];

export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  blocks(String(text).replace(/\r\n?/g, "\n").split("\n"), fragment);
  return fragment;
}

export function safeUrl(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch (e) {
    return null;
  }
  return LINK_SCHEMES.includes(url.protocol) ? url.href : null;
}

function el(name, parent, text) {
  const node = document.createElement(name);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function indentOf(line) {
  return line.length - line.replace(/^ +/, "").length;
}

function isBlank(line) {
  return !line.trim();
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
}

function startsTable(lines, i) {
  return lines[i].includes("|") && i + 1 < lines.length && lines[i + 1].includes("|") &&
    TABLE_RULE.test(lines[i + 1]);
}

function blocks(lines, parent) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (isBlank(line)) {
      i += 1;
    } else if ((m = FENCE.exec(line))) {
      i = codeBlock(lines, i, m, parent);
    } else if ((m = HEADING.exec(line))) {
      inline(m[2] || "", el("h" + Math.min(6, m[1].length + 1), parent));
      i += 1;
    } else if (RULE.test(line)) {
      el("hr", parent);
      i += 1;
    } else if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
        inner.push(m[1]);
        i += 1;
      }
      blocks(inner, el("blockquote", parent));
    } else if (ITEM.test(line)) {
      i = list(lines, i, parent);
    } else if (startsTable(lines, i)) {
      i = table(lines, i, parent);
    } else {
      const para = [];
      while (i < lines.length && !isBlank(lines[i]) &&
             (para.length === 0 || !(startsBlock(lines[i]) || startsTable(lines, i)))) {
        para.push(lines[i].trim());
        i += 1;
      }
      inline(para.join("\n"), el("p", parent));
    }
  }
}

function codeBlock(lines, start, open, parent) {
  const marker = open[1];
  const close = new RegExp("^ {0,3}" + marker[0].replace("~", "\\~") + "{" + marker.length + ",}\\s*$");
  const body = [];
  let i = start + 1;
  while (i < lines.length && !close.test(lines[i])) {
    body.push(lines[i]);
    i += 1;
  }
  const code = el("code", el("pre", parent), body.join("\n"));
  if (open[2]) code.className = "language-" + open[2].replace(/[^\w+#.-]/g, "");
  return i + 1;
}

// A list and its items; an item holds every following line indented past its marker (nested
// lists, more paragraphs), and the lines that simply continue its text.
function list(lines, start, parent) {
  const first = ITEM.exec(lines[start]);
  const base = first[1].length;
  const ordered = /\d/.test(first[2]);
  const delimiter = first[2].slice(-1);
  const node = el(ordered ? "ol" : "ul", parent);
  if (ordered && parseInt(first[2], 10) !== 1) node.start = parseInt(first[2], 10);
  let i = start;
  let loose = false;
  const items = [];
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]);
    if (!m || m[1].length !== base || /\d/.test(m[2]) !== ordered || m[2].slice(-1) !== delimiter) break;
    const content = [m[3] || ""];
    const inner = base + m[2].length + 1;
    i += 1;
    while (i < lines.length) {
      const line = lines[i];
      if (isBlank(line)) {
        let next = i + 1;
        while (next < lines.length && isBlank(lines[next])) next += 1;
        if (next < lines.length && indentOf(lines[next]) >= inner) {
          content.push("");
          loose = true;
          i = next;
          continue;
        }
        break;
      }
      const indent = indentOf(line);
      if (indent >= inner || (indent > base && ITEM.test(line))) {
        content.push(line.slice(Math.min(indent, inner)));
      } else if (!startsBlock(line) && !isBlank(content[content.length - 1])) {
        content.push(line.trim());
      } else {
        break;
      }
      i += 1;
    }
    items.push(content);
    let next = i;
    while (next < lines.length && isBlank(lines[next])) next += 1;
    const after = next < lines.length ? ITEM.exec(lines[next]) : null;
    if (next > i && after && after[1].length === base) {
      loose = true;
      i = next;
    }
  }
  for (const content of items) {
    const li = el("li", node);
    blocks(content, li);
    if (!loose && li.children.length && li.firstElementChild.tagName === "P") {
      const p = li.firstElementChild;
      while (p.firstChild) li.insertBefore(p.firstChild, p);
      p.remove();
    }
  }
  return i;
}

function table(lines, start, parent) {
  const cells = (line) => {
    const row = line.trim().replace(/^\|/, "").replace(/(?<!\\)\|$/, "");
    return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
  };
  const aligns = cells(lines[start + 1]).map((spec) =>
    spec.endsWith(":") ? (spec.startsWith(":") ? "center" : "right") : "");
  const wrap = el("div", parent);
  wrap.className = "table";
  const tableNode = el("table", wrap);
  const row = (values, section, tag) => {
    const tr = el("tr", section);
    aligns.forEach((align, n) => {
      const cell = el(tag, tr);
      if (align) cell.style.textAlign = align;
      inline(values[n] || "", cell);
    });
  };
  row(cells(lines[start]), el("thead", tableNode), "th");
  const body = el("tbody", tableNode);
  let i = start + 2;
  while (i < lines.length && !isBlank(lines[i]) && lines[i].includes("|")) {
    row(cells(lines[i]), body, "td");
    i += 1;
  }
  return i;
}

// Inline: the earliest construct wins; its inside is rendered again (but never a link in a link).
// An emphasis never spans its own closing delimiter, so each pattern stops at the next one and a
// reply full of unmatched `**` costs no more than its length.
const INLINE = [
  ["code", /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g],
  ["strongem", /\*\*\*(?=\S)((?:[^*]|\*(?!\*))*?\S)\*\*\*/g],
  ["escape", /\\([!-/:-@[-`{-~])/g],
  ["link", /!?\[((?:[^\[\]\\]|\\.)*)\]\(\s*<?([^\s<>()]+(?:\([^\s()]*\))?)>?(?:\s+"[^"]*")?\s*\)/g],
  ["autolink", /<((?:https?:\/\/|mailto:)[^\s<>]+)>/g],
  ["url", /\bhttps?:\/\/[^\s<>]*[^\s<>.,:;!?"'()[\]{}*_~`]/g],
  ["strong", /\*\*(?=\S)((?:[^*]|\*(?!\*))*?\S)\*\*|(?<![\p{L}\p{N}_])__(?=\S)((?:[^_]|_(?!_))*?\S)__(?![\p{L}\p{N}_])/gu],
  ["em", /\*(?=[^\s*])((?:[^*]|\*\*[^*]+\*\*)*?[^\s*])\*(?!\*)|(?<![\p{L}\p{N}_])_(?=[^\s_])((?:[^_]|__[^_]+__)*?[^\s_])_(?![\p{L}\p{N}_])/gu],
  ["strike", /~~(?=\S)((?:[^~]|~(?!~))*?\S)~~/g],
];

function inline(text, parent, inLink) {
  if (text.length > MOST_INLINE) {
    lines(text, parent);
    return;
  }
  const next = INLINE.map(() => -2);          // -2: not looked for yet; -1: none left
  const found = [];
  let at = 0;
  while (at < text.length) {
    let best = -1;
    INLINE.forEach(([kind, pattern], n) => {
      if (inLink && (kind === "link" || kind === "autolink" || kind === "url")) return;
      if (next[n] !== -1 && (next[n] === -2 || found[n].index < at)) {
        pattern.lastIndex = at;
        found[n] = pattern.exec(text);
        next[n] = found[n] ? found[n].index : -1;
      }
      if (next[n] >= 0 && (best < 0 || next[n] < next[best])) best = n;
    });
    if (best < 0) break;
    const match = found[best];
    lines(text.slice(at, match.index), parent);
    construct(INLINE[best][0], match, parent, inLink);
    at = match.index + match[0].length;
  }
  lines(text.slice(at), parent);
}

function construct(kind, match, parent, inLink) {
  if (kind === "code") {
    el("code", parent, match[2].replace(/\n/g, " ").replace(/^ (.*) $/, "$1"));
  } else if (kind === "escape") {
    parent.appendChild(document.createTextNode(match[1]));
  } else if (kind === "link") {
    link(match[2], match[1] || match[2], parent);
  } else if (kind === "autolink" || kind === "url") {
    link(match[1] || match[0], null, parent);
  } else if (kind === "strongem") {
    inline(match[1], el("em", el("strong", parent)), inLink);
  } else {
    const tag = { strong: "strong", em: "em", strike: "del" }[kind];
    inline(match[1] !== undefined ? match[1] : match[2], el(tag, parent), inLink);
  }
}

function link(target, label, parent) {
  const href = safeUrl(target);
  if (!href) {
    if (label === null) lines(target, parent);
    else inline(label, parent, true);
    return;
  }
  const a = el("a", parent);
  a.href = href;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  if (label === null) a.textContent = target;
  else inline(label, a, true);
}

function lines(text, parent) {
  text.split("\n").forEach((part, n) => {
    if (n) el("br", parent);
    if (part) parent.appendChild(document.createTextNode(part));
  });
}
