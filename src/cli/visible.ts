/**
 * Text that comes from outside (a registry's error message, a tag, a path or a package name in an
 * image, a repository index) as the CLI prints it: every control character but newline and tab
 * (C0, DEL and C1) written as a `\uXXXX` escape. Printed raw, such text could move the cursor,
 * rewrite the line above (`\r`, `ESC [2K`), hide words, set the window title or a hyperlink
 * (OSC 8) on a user's terminal. The escape is valid in JSON too, and JSON output holds no raw
 * C0 character anyway.
 */
import type { Output } from './io.ts';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it replaces
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function visible(text: string): string {
  return text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `out` with {@link visible} applied to the text written to it; bytes pass as they are. */
export function visibleOutput(out: Output): Output {
  return {
    write: (chunk) => out.write(typeof chunk === 'string' ? visible(chunk) : chunk),
    flushed: () => out.flushed(),
  };
}
