/** The progress of copies and pushes on standard error: a bar on a terminal, lines in a log. */
import type { ProgressUpdate } from '../io/types.ts';

/**
 * Turns progress events into output: one redrawn line on a terminal, plain lines (one per blob
 * finished, and each retry) elsewhere, so CI logs stay readable. Once `signal` fires (the user
 * interrupted) it draws nothing more: main() ends the line.
 */
export function progressReporter(
  out: NodeJS.WritableStream & { isTTY?: boolean },
  signal?: AbortSignal,
): {
  update: (u: ProgressUpdate) => void;
  finish: () => void;
} {
  const tty = out.isTTY === true;
  const blobs = new Map<string, { done: number; total: number }>();
  let finished = signal?.aborted === true;
  signal?.addEventListener('abort', () => {
    finished = true;
  });
  let lastDraw = 0;
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    let done = 0;
    let total = 0;
    let complete = 0;
    for (const b of blobs.values()) {
      done += b.done;
      total += b.total;
      if (b.done >= b.total) complete++;
    }
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    out.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${(done / 1e6).toFixed(1)}/${(total / 1e6).toFixed(1)} MB, ${complete}/${blobs.size} blobs`,
    );
  };
  return {
    update(u) {
      if (finished) return;
      if (u.kind === 'retry') {
        out.write(`${tty ? '\r\x1b[K' : ''}retrying ${u.what} in ${u.delayMs} ms (attempt ${u.attempt}): ${u.reason}\n`);
        return;
      }
      if (u.kind !== 'blob') return;
      const short = u.digest.slice(7, 19);
      blobs.set(u.digest, { done: u.phase === 'transfer' ? u.done : u.total, total: u.total });
      if (tty) draw(u.phase !== 'transfer');
      else if (u.phase !== 'transfer')
        out.write(`${short}: ${u.phase === 'done' ? 'copied' : u.phase === 'exists' ? 'already there' : 'mounted'} (${u.total} bytes)\n`);
    },
    finish() {
      if (finished) return;
      finished = true;
      if (tty && blobs.size > 0) {
        draw(true);
        out.write('\n');
      }
    },
  };
}
