// Reference token ids for tests/test_tokenizer_json.cpp, computed by the
// JavaScript port of Hugging Face tokenizers on the tokenizer.json fixtures.
//
//   cd tests/tokenizer_reference && npm ci && node make_reference.mjs
//
// Writes ../fixtures/tokenizers/reference.json: the test strings (made here
// from a fixed seed: corpus words, emoji, CJK, combining marks, digits,
// whitespace runs, special-token text) and, per tokenizer file, the ids of each
// string encoded without post-processing (add_special_tokens false, as the
// engine adds its own beginning-of-sequence token) and the text decoded back
// with special tokens skipped.
import { readFileSync, writeFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const here = new URL(".", import.meta.url).pathname;
const fixtures = here + "../fixtures/tokenizers/";
const files = ["bytelevel-llama3.json", "bytelevel-gpt2.json", "bytelevel-qwen2.json", "bytelevel-smollm.json",
               "metaspace-legacy.json", "metaspace-pretok.json", "metaspace-split.json"];
const COUNT = 2000;

// Deterministic generator (mulberry32), so the strings are the same every run.
let state = 20221027;
function random() {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];

const corpus = readFileSync(here + "../../training/fixtures_text.txt", "utf8");
const words = corpus.split(/\s+/).filter((w) => w.length > 0);
const pieces = [
  () => pick(words),
  () => pick(words).toUpperCase(),
  () => String(Math.floor(random() * 10 ** (1 + Math.floor(random() * 7)))),
  () => pick(["😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "🤖", "❤️", "✨"]),
  () => pick(["東京", "中文字符", "日本語のテキスト", "한국어", "漢字"]),
  () => pick(["e\u0301", "n\u0303o", "café", "cafe\u0301", "A\u030A", "\u00C5", "ﬁ", "Ⅻ"]),
  () => pick(["Привет", "Ελληνικά", "עברית", "العربية", "हिन्दी", "ไทย"]),
  () => pick([" ", "  ", "   ", "\t", "\n", "\n\n", " \n ", "\r\n", "\u00A0", "\u3000"]),
  () => pick(["<|begin_of_text|>", "<|end_of_text|>", "<|tool|>", "<s>", "</s>", "<unk>", "<|begin_of"]),
  () => pick(["'s", "'LL", "don't", "I'm", "...", "!?", "—", "(x)", "$3.50", "a-b_c", "#1", "e.g.,"]),
  () => pick(["\u0000", "\u007f", "\u200b", "\u{10FFFF}", "\u{1D400}"]),
];
function make_string() {
  const n = 1 + Math.floor(random() * 6);
  let s = random() < 0.3 ? " " : "";
  for (let i = 0; i < n; i++) {
    s += pieces[Math.floor(random() * pieces.length)]();
    if (random() < 0.6) s += " ";
  }
  return s;
}
const strings = ["", " ", "Hello world", "  leading spaces", "trailing spaces   ", "a\n\nb", "1234567890",
                 corpus.split("\n")[0]];
while (strings.length < COUNT) strings.push(make_string());

// To keep the fixture small, the ids of every string are stored as a hash
// (FNV-1a, 32 bits, over the ids written in decimal and joined by ","; all
// hashes as one hex string, 8 digits each), and in full only for the first
// FULL strings (for readable failures); the decoded text is stored, as the same
// hash of its UTF-8 bytes, only where it differs from the string.
function fnv1a_bytes(bytes) {
  let h = 0x811c9dc5;
  for (const c of bytes) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}
const fnv1a = (ids) => fnv1a_bytes(Buffer.from(ids.join(","), "utf8"));
const FULL = 100;
const out = { generator: "@huggingface/tokenizers " +
    JSON.parse(readFileSync(here + "node_modules/@huggingface/tokenizers/package.json", "utf8")).version,
  strings, tokenizers: {} };
for (const file of files) {
  const json = JSON.parse(readFileSync(fixtures + file, "utf8"));
  const tokenizer = new Tokenizer(json, {});
  const decode = (ids) => (ids.length ? tokenizer.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false }) : "");
  const ids = [], decoded = {};
  let hashes = "";
  strings.forEach((s, i) => {
    const e = tokenizer.encode(s, { add_special_tokens: false }).ids;
    if (i < FULL) ids.push(e);
    hashes += fnv1a(e);
    const d = decode(e);
    if (d !== s) decoded[i] = fnv1a_bytes(Buffer.from(d, "utf8"));
  });
  // Decoding arbitrary ids: every id alone (partial UTF-8, byte fallback) and
  // random short sequences.
  const vocab_size = Math.max(...Object.values(json.model.vocab), ...json.added_tokens.map((t) => t.id)) + 1;
  const single = [];
  for (let id = 0; id < vocab_size; id++) single.push(decode([id]));
  const sequences = [];
  for (let i = 0; i < 200; i++) {
    const seq = [];
    for (let n = 1 + Math.floor(random() * 6); n > 0; n--) seq.push(Math.floor(random() * vocab_size));
    sequences.push([seq, decode(seq)]);
  }
  out.tokenizers[file] = { ids, hashes, decoded, single, sequences };
}
const text = JSON.stringify(out);
writeFileSync(fixtures + "reference.json", text + "\n");
console.log(`${strings.length} strings x ${files.length} tokenizers -> reference.json (${text.length} bytes)`);
