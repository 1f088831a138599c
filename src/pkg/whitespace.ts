/**
 * White space as package index formats are split on, shared by the apk and Debian readers
 * (a module of its own: an apk build loads nothing of src/pkg/deb/).
 */

/**
 * Whether a UTF-16 code unit is white space as `\s` matches it and String.prototype.trim removes
 * it (ECMA-262 WhiteSpace and LineTerminator: ASCII ones, and Unicode's).
 */
export function isWhitespace(c: number): boolean {
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}
