/**
 * Reply formatting (RFC 959 §4.2): one line `<code> <text>\r\n`, or a multi-line reply whose first line is
 * `<code>-<text>`, whose last line is `<code> <text>`, and whose lines in between start with a space so that none
 * can be read as a reply code (RFC 959 §4.2: "the intermediary lines ... must not begin with a code"). Pure.
 */

/** Text that must never reach the client inside a reply line: CR, LF (they would forge reply lines). */
const LINE_BREAKS = /[\r\n]/g;

/** One reply line: `<code> <text>\r\n`; CR/LF in `text` become spaces. */
export function replyLine(code: number, text: string): string {
  return `${code} ${text.replace(LINE_BREAKS, ' ')}\r\n`;
}

/**
 * A multi-line reply: `<code>-<first>`, each of `middle` prefixed with one space (unless it already starts with
 * one), then `<code> <last>`. All of it in one string, so it goes out in one write.
 */
export function multiLineReply(code: number, first: string, middle: readonly string[], last: string): string {
  let out = `${code}-${first.replace(LINE_BREAKS, ' ')}\r\n`;
  for (const m of middle) {
    const line = m.replace(LINE_BREAKS, ' ');
    out += line.startsWith(' ') ? `${line}\r\n` : ` ${line}\r\n`;
  }
  return out + replyLine(code, last);
}

/**
 * A path inside a 257 reply (RFC 959 Appendix II): between double quotes, each `"` in it doubled.
 * `/` → `"/"`, `/a"b` → `"/a""b"`.
 */
export function quotePath(virtualPath: string): string {
  return `"${virtualPath.replace(/"/g, '""')}"`;
}
