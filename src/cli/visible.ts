/**
 * Text that comes from outside (a registry's error message, a tag, a path or a package name in an
 * image, a repository index) as the CLI prints it: every control character but newline and tab
 * (C0, DEL and C1), and the invisible format characters that make two names look alike
 * (zero-width, bidirectional, soft hyphen, byte order mark: `HIDDEN` in bytes.ts), written as a
 * `\uXXXX` escape. Printed raw, such text could move the cursor, rewrite the line above (`\r`,
 * `ESC [2K`), hide words, set the window title or a hyperlink (OSC 8) on a user's terminal, or
 * pass for another name. The escape is valid in JSON too, and JSON output holds no raw C0
 * character anyway.
 *
 * Newline and tab stay because whole outputs pass through {@link visible}; a single field of a
 * line (a path, a name, a warning) goes through {@link visibleLine}, so that it cannot print a
 * line of its own.
 */
import { printableLine, printableText } from '../bytes.ts';
import type { Logger } from '../io/types.ts';
import type { CliIo, Output } from './io.ts';

/** `text` with control characters escaped, newline and tab kept. */
export function visible(text: string): string {
  return printableText(text);
}

/** `text` with every control character escaped, newline and tab too: one field of one line. */
export function visibleLine(text: string): string {
  return printableLine(text);
}

/**
 * Data (a JSON report or SBOM) as a command writes it to standard output: byte for byte to a file
 * or a pipe, which a program reads; on a terminal, with {@link visible} applied, so that a package
 * name holding a C1 control (U+009B is CSI, as `ESC [`) cannot drive the terminal. The JSON stays
 * valid and means the same: those characters can only stand in its strings, where `\uXXXX` is the
 * same character.
 */
export function visibleData(out: Output, text: string): string {
  return out.isTTY === true ? visible(text) : text;
}

/** `out` with {@link visible} applied to the text written to it; bytes pass as they are. */
export function visibleOutput(out: Output): Output {
  return {
    write: (chunk) => out.write(typeof chunk === 'string' ? visible(chunk) : chunk),
    flushed: () => out.flushed(),
  };
}

/** A library logger for a command: its warnings on standard error, one line each; the rest dropped. */
export function warningLogger(io: Pick<CliIo, 'stderr'>): Logger {
  return { debug() {}, info() {}, warn: (m: string) => io.stderr.write(`warning: ${visibleLine(m)}\n`) };
}
