/**
 * Progress of long work on standard error: a live display on a terminal (finished steps as lines,
 * the running one redrawn in place), plain timestamped lines when standard error is not a
 * terminal or in CI (`CI` set), nothing with `--quiet`. Standard output keeps the result alone.
 */
import type { ProgressUpdate, StepProgress } from '../io/types.ts';
import type { CliIo } from './io.ts';
import { visibleLine } from './visible.ts';

/** How progress is shown. */
export type ProgressMode = 'live' | 'plain' | 'quiet';

/** Live on a terminal, plain in a log or in CI (where a redrawn line turns into noise), none with `--quiet`. */
export function progressMode(io: Pick<CliIo, 'env' | 'stderr'>, quiet: boolean): ProgressMode {
  if (quiet) return 'quiet';
  const ci = io.env.CI !== undefined && io.env.CI !== '' && io.env.CI !== 'false';
  return io.stderr.isTTY === true && !ci && io.env.TERM !== 'dumb' ? 'live' : 'plain';
}

/** What a command feeds progress events to, and ends. */
export interface Progress {
  update(u: ProgressUpdate): void;
  /** A warning or note on a line of its own (above the live line; shown with --quiet too). */
  message(text: string): void;
  /** Clears the live line, before the command prints its result. */
  finish(): void;
}

/** Options of {@link progressReporter}. */
export interface ProgressOptions {
  quiet?: boolean | undefined;
  /** What blob events without a step are part of, e.g. `copying to oci:out`. */
  label?: string | undefined;
  /** The clock, for tests. */
  now?: () => number;
}

const VERBS: Record<StepProgress['step'], [string, string]> = {
  resolve: ['resolving', 'resolved'],
  fetch: ['fetching', 'fetched'],
  install: ['installing', 'installed'],
  compress: ['compressing', 'compressed'],
  reuse: ["reusing an earlier build's layers for", "reused an earlier build's layers for"],
  write: ['writing to', 'wrote to'],
};
const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
const CLEAR = '\r\x1b[K';

/** Bytes for a person: B, kB below a megabyte, MB with one decimal above. */
export function formatBytes(n: number): string {
  return n < 1e3 ? `${n} B` : n < 1e6 ? `${Math.round(n / 1e3)} kB` : `${(n / 1e6).toFixed(1)} MB`;
}

/** `1 package`, `2 packages`. */
function count(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** One step as words: `fetching x86_64: 12/75 packages, 8.1 MB, 3 from the cache`. */
function stepText(s: StepProgress, inFlight: { done: number }): string {
  const registry = s.step === 'write' && !/^(oci|oci-archive|docker-archive):/.test(s.subject);
  const [ing, ed] = registry ? ['pushing to', 'pushed to'] : VERBS[s.step];
  const verb = `${s.finished ? ed : ing} ${s.subject}`;
  const counted = (unit: string) =>
    s.total === undefined || s.finished ? count(s.total ?? s.done, unit) : `${s.done}/${count(s.total, unit)}`;
  switch (s.step) {
    case 'resolve':
      return s.finished ? `${verb}: ${counted('package')}` : verb;
    case 'fetch':
      return `${verb}: ${counted('package')}, ${formatBytes(s.bytes ?? 0)}${s.reused ? `, ${s.reused} from the cache` : ''}`;
    case 'install':
      return `${verb}: ${counted('package')}`;
    case 'compress':
      return `${verb}: ${counted('layer')}${s.finished ? `, ${formatBytes(s.bytes ?? 0)}` : ''}`;
    case 'reuse':
      return `${verb}: ${counted('package')}, ${formatBytes(s.bytes ?? 0)}`;
    case 'write': {
      const bytes = (s.bytes ?? 0) + (s.finished ? 0 : inFlight.done);
      const of = s.totalBytes === undefined || s.finished ? '' : `/${formatBytes(s.totalBytes)}`;
      return `${verb}: ${counted('blob')}, ${formatBytes(bytes)}${of}${s.reused ? `, ${s.reused} already there` : ''}`;
    }
  }
}

/**
 * A progress display on `io.stderr` in the mode {@link progressMode} picks. Once `io.signal`
 * fires it draws the running step one last time, marked interrupted, and nothing after: main()
 * then ends the line.
 */
export function progressReporter(io: CliIo, options: ProgressOptions = {}): Progress {
  const mode = progressMode(io, options.quiet === true);
  if (mode === 'quiet') return { update() {}, message: (text) => io.stderr.write(`${visibleLine(text)}\n`), finish() {} };
  const out = io.stderr as NodeJS.WritableStream & { columns?: number };
  const now = options.now ?? Date.now;
  const start = now();
  const steps = new Map<string, { state: StepProgress; started: number; lastLine: number }>();
  let active: string | undefined;
  const blobs = new Map<string, { done: number; total: number; phase: string }>();
  const tally = { copied: 0, copiedBytes: 0, existed: 0, mounted: 0 };
  let drawn = false;
  let stopped = false;
  let lastDraw = 0;
  let frame = 0;

  const inFlight = () => {
    let done = 0;
    let total = 0;
    let count = 0;
    for (const b of blobs.values()) {
      if (b.phase !== 'transfer') continue;
      done += b.done;
      total += b.total;
      count++;
    }
    return { done, total, count };
  };
  /** The running work as words: the active step, else the blobs of a copy. */
  const status = (): string | undefined => {
    const step = active === undefined ? undefined : steps.get(active);
    if (step !== undefined) return `${stepText(step.state, inFlight())} (${seconds(now() - step.started)})`;
    // Blobs without steps are a copy's; a build's are counted by its write step.
    if (blobs.size === 0 || steps.size > 0) return undefined;
    const f = inFlight();
    const parts = [`${count(tally.copied, 'blob')} copied (${formatBytes(tally.copiedBytes)})`];
    if (tally.existed > 0) parts.push(`${tally.existed} already there`);
    if (tally.mounted > 0) parts.push(`${tally.mounted} mounted`);
    // Only what is in flight has a known size: no percentage of a total nobody knows yet.
    if (f.count > 0) parts.push(`${f.count} in flight: ${formatBytes(f.done)}/${formatBytes(f.total)}`);
    return `${options.label ?? 'copying'}: ${parts.join(', ')}`;
  };
  const fit = (text: string) => {
    // A terminal that does not say its width (0) is taken as 80 columns.
    const width = (out.columns || 80) - 1;
    return text.length > width ? `${text.slice(0, width - 1)}…` : text;
  };
  const draw = (force: boolean) => {
    if (stopped || mode !== 'live') return;
    const t = now();
    if (!force && t - lastDraw < 80) return;
    lastDraw = t;
    const text = status();
    if (text === undefined) {
      if (drawn) out.write(CLEAR);
      drawn = false;
      return;
    }
    frame = (frame + 1) % SPINNER.length;
    out.write(`${CLEAR}${fit(`${SPINNER[frame]} ${visibleLine(text)}`)}`);
    drawn = true;
  };
  /** A line that stays: above the live line on a terminal, timestamped in a log. */
  const line = (raw: string) => {
    const text = visibleLine(raw);
    if (mode === 'live') {
      out.write(`${drawn ? CLEAR : ''}${text}\n`);
      drawn = false;
      draw(true);
    } else out.write(`[+${seconds(now() - start)}] ${text}\n`);
  };
  const timer = mode === 'live' ? setInterval(() => draw(true), 100) : undefined;
  timer?.unref();
  const stop = () => {
    stopped = true;
    if (timer !== undefined) clearInterval(timer);
  };
  const onAbort = () => {
    if (stopped) return;
    const text = status();
    if (mode === 'live' && text !== undefined) out.write(`${CLEAR}${fit(`${visibleLine(text)}: interrupted`)}`);
    else if (mode === 'live' && drawn) out.write(CLEAR);
    stop();
  };
  if (io.signal.aborted) stop();
  else io.signal.addEventListener('abort', onAbort, { once: true });

  const onStep = (u: StepProgress) => {
    const key = `${u.step}\0${u.subject}`;
    const t = now();
    const known = steps.get(key);
    const entry = known ?? { state: u, started: t, lastLine: t };
    entry.state = u;
    steps.set(key, entry);
    if (u.finished) {
      if (active === key) active = undefined;
      line(
        mode === 'live'
          ? `✓ ${stepText(u, inFlight())} (${seconds(t - entry.started)})`
          : `${stepText(u, inFlight())} (${seconds(t - entry.started)})`,
      );
      return;
    }
    active = key;
    if (mode === 'live') draw(known === undefined);
    else if (known === undefined || t - entry.lastLine >= 2000) {
      entry.lastLine = t;
      line(stepText(u, inFlight()));
    }
  };
  const onBlob = (u: Extract<ProgressUpdate, { kind: 'blob' }>) => {
    const seen = blobs.get(u.digest);
    // Stores report a blob's end, and so may the operation around them: count it once.
    if (seen !== undefined && seen.phase !== 'transfer') return;
    blobs.set(u.digest, { done: u.done, total: u.total, phase: u.phase });
    if (u.phase === 'transfer') return draw(false);
    if (u.phase === 'done') {
      tally.copied++;
      tally.copiedBytes += u.total;
    } else if (u.phase === 'exists') tally.existed++;
    else tally.mounted++;
    // In a log, a copy says each blob; a build's write step says it all in its own lines.
    if (mode === 'plain' && steps.size === 0) {
      const what = u.phase === 'done' ? 'copied' : u.phase === 'exists' ? 'already there' : 'mounted';
      line(`${u.digest.slice(0, 19)}…: ${what} (${formatBytes(u.total)})`);
    } else draw(true);
  };

  return {
    update(u) {
      if (stopped) return;
      if (u.kind === 'step') onStep(u);
      else if (u.kind === 'blob') onBlob(u);
      else if (u.kind === 'retry') line(`retrying ${u.what} in ${u.delayMs} ms (attempt ${u.attempt}): ${u.reason}`);
    },
    message(text) {
      if (stopped || mode === 'plain') io.stderr.write(`${visibleLine(text)}\n`);
      else line(text);
    },
    finish() {
      if (stopped) return;
      if (mode === 'live' && drawn) out.write(CLEAR);
      drawn = false;
      stop();
      io.signal.removeEventListener('abort', onAbort);
    },
  };
}
