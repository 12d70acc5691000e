// Streamed replies. While the model is still writing, the live feed lists the text so far as
// `previews: [{reply_to, text, updated}]`; each becomes a bot bubble that grows with every poll,
// until the final reply with the same `reply_to` takes its place. A reply already shown never
// gets a preview again, so a preview listed once more in a late answer is not shown twice.

const FORGOTTEN_AFTER = 60000;      // ms a preview may go unlisted without its reply before it goes

export class Previews {
  constructor(bubbles, place) {
    this.bubbles = bubbles;
    this.place = place;             // place(replyTo, node): put a new preview where its reply belongs
    this.shown = new Map();         // reply_to -> {node, text, seen}
    this.answered = new Set();
  }

  update(previews) {
    const now = Date.now();
    for (const preview of Array.isArray(previews) ? previews : []) {
      const key = String(preview.reply_to || "");
      if (!key || this.answered.has(key) || typeof preview.text !== "string") continue;
      let shown = this.shown.get(key);
      if (!shown) {
        shown = { node: this.bubbles.preview(), text: null, seen: now };
        this.shown.set(key, shown);
        this.place(key, shown.node);
      }
      shown.seen = now;
      if (shown.text !== preview.text) {
        shown.text = preview.text;
        this.bubbles.grow(shown.node, preview.text);
      }
    }
    for (const [key, shown] of this.shown) {
      if (now - shown.seen > FORGOTTEN_AFTER) this.drop(key);
    }
  }

  // The final reply to `replyTo` arrived: the preview's bubble for it to replace, if there is one.
  finish(replyTo) {
    this.answered.add(replyTo);
    const shown = this.shown.get(replyTo);
    this.shown.delete(replyTo);
    return shown ? shown.node : null;
  }

  drop(replyTo) {
    const shown = this.shown.get(replyTo);
    if (shown) shown.node.remove();
    this.shown.delete(replyTo);
  }

  // A new conversation began: only previews answering messages sent after it stay.
  keepOnly(keys) {
    for (const key of [...this.shown.keys()]) if (!keys.has(key)) this.drop(key);
  }
}
