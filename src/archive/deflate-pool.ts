/**
 * The worker threads that compress pinned gzip blocks: created on first use, shared by every
 * compression in the process, grown to the largest `workers` asked for. A worker is ref'd only
 * while it compresses a block, so an idle pool never keeps the process alive (and `node --test`
 * exits).
 */
import type { Worker } from 'node:worker_threads';
import { ProvenantError } from '../errors.ts';

/** One block of input. */
export interface Block {
  data: Uint8Array;
  last: boolean;
  /**
   * The caller reuses `data`'s memory once {@link Lane.deflate} returns (pinnedGzip's cutting
   * buffer): the pool copies it at once. Otherwise `data` must stay as it is until the block's
   * promise settles, and is copied only when a worker takes it (or not at all when it is a view
   * of shared memory).
   */
  reused: boolean;
  /** Its compressed bytes, when a PrecompressedSegment (deflate.ts) already has them. */
  compressed?: Promise<Uint8Array> | undefined;
}

/** What the calling thread posts to a worker. @internal */
export interface DeflateRequest {
  /** Shared memory: the worker reads the block in place (see {@link Slots}). */
  buffer: SharedArrayBuffer;
  byteOffset: number;
  byteLength: number;
  level: number;
  last: boolean;
}

/** What a worker posts back; `buffer` is transferred. @internal */
export type DeflateResponse = { buffer: ArrayBuffer; byteLength: number } | { error: string };

interface Task {
  lane: Lane;
  block: Block;
  /** The slot holding the block's bytes, once they are copied into one (given back when the worker answers). */
  slot?: SharedArrayBuffer | undefined;
  level: number;
  resolve: (out: Uint8Array) => void;
  reject: (err: unknown) => void;
}

interface PoolWorker {
  worker: Worker;
  /** The blocks posted to it and not yet answered, oldest first: a worker answers in order. */
  tasks: Task[];
}

/**
 * Blocks posted to a worker ahead of the one it is compressing. The calling thread hands out
 * blocks only when it is free to run callbacks; while it is busy for a while (unpacking packages
 * into the tree takes a few hundred milliseconds), a worker with blocks queued in its port goes on
 * compressing instead of waiting for it. Each posted block is in a slot of shared memory of its
 * own (see {@link Slots}).
 */
const WORKER_DEPTH = 16;

/** One compression's share of the pool: at most `limit` of its blocks posted at once. */
export class Lane {
  readonly limit: number;
  running = 0;
  readonly #pool: DeflatePool;

  constructor(pool: DeflatePool, limit: number) {
    this.#pool = pool;
    this.limit = limit;
  }

  deflate(block: Block, level: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => this.#pool.submit({ lane: this, block, level, resolve, reject }));
  }

  /** Drops this lane's blocks that no worker has been given; blocks given out finish unread. */
  close(): void {
    this.#pool.drop(this);
  }
}

class DeflatePool {
  readonly #workers = new Set<PoolWorker>();
  readonly #queue: Task[] = [];
  readonly #slots = new Slots();
  readonly #url: URL;

  constructor(url: URL) {
    this.#url = url;
  }

  /** A lane for a compression that wants `workers` threads; the pool grows to that many. */
  lane(workers: number): Lane {
    while (this.#workers.size < workers) this.#spawn();
    return new Lane(this, workers * WORKER_DEPTH);
  }

  submit(task: Task): void {
    if (task.block.reused) this.#copy(task);
    this.#queue.push(task);
    this.#pump();
  }

  /** Copies the task's block into a slot, whose view it posts from then on. */
  #copy(task: Task): void {
    const { data } = task.block;
    const slot = this.#slots.take(data.byteLength);
    const view = new Uint8Array(slot, 0, data.byteLength);
    view.set(data);
    task.slot = slot;
    task.block = { ...task.block, data: view, reused: false };
  }

  drop(lane: Lane): void {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const task = this.#queue[i]!;
      if (task.lane === lane) {
        this.#queue.splice(i, 1);
        // No worker has seen it: its slot serves the next block.
        if (task.slot !== undefined) this.#slots.give(task.slot);
        task.reject(new ProvenantError('ABORTED', 'the compression was stopped'));
      }
    }
  }

  #spawn(): void {
    const worker = startWorker(this.#url);
    worker.unref();
    const pw: PoolWorker = { worker, tasks: [] };
    this.#workers.add(pw);
    // Node refs a worker's port again when the thread comes online; a worker spawned but never
    // given a block would then keep the process alive. Unref it again once it is up.
    worker.once('online', () => {
      if (pw.tasks.length === 0) worker.unref();
    });
    worker.on('message', (response: DeflateResponse) => this.#done(pw, response));
    worker.on('error', (err) => this.#lost(pw, err));
    worker.on('messageerror', (err) => this.#lost(pw, err));
    worker.on('exit', (code) => this.#lost(pw, new Error(`the worker exited with code ${code}`)));
  }

  /** Gives queued blocks to the workers with the fewest, up to {@link WORKER_DEPTH} each. */
  #pump(): void {
    for (;;) {
      let pw: PoolWorker | undefined;
      for (const w of this.#workers) if (w.tasks.length < WORKER_DEPTH && (pw === undefined || w.tasks.length < pw.tasks.length)) pw = w;
      if (pw === undefined) return;
      const i = this.#queue.findIndex((t) => t.lane.running < t.lane.limit);
      if (i < 0) return;
      const task = this.#queue.splice(i, 1)[0]!;
      pw.tasks.push(task);
      task.lane.running++;
      if (pw.tasks.length === 1) pw.worker.ref();
      // A view into shared memory is read by the worker in place; any other (a segment's block)
      // is copied into a slot only now that a worker takes it, so that the blocks queued ahead
      // hold no second copy of their bytes.
      if (!(task.block.data.buffer instanceof SharedArrayBuffer)) this.#copy(task);
      const { data, last } = task.block;
      const request: DeflateRequest = {
        buffer: data.buffer as SharedArrayBuffer,
        byteOffset: data.byteOffset,
        byteLength: data.byteLength,
        level: task.level,
        last,
      };
      pw.worker.postMessage(request);
    }
  }

  #done(pw: PoolWorker, response: DeflateResponse): void {
    const task = pw.tasks.shift();
    if (task === undefined) return;
    task.lane.running--;
    // The worker has read the block: its slot serves the next one.
    if (task.slot !== undefined) this.#slots.give(task.slot);
    if (pw.tasks.length === 0) pw.worker.unref();
    if ('error' in response) task.reject(new ProvenantError('IO', `deflate failed in a worker thread: ${response.error}`));
    else task.resolve(new Uint8Array(response.buffer, 0, response.byteLength));
    this.#pump();
  }

  /** A worker died: fail its blocks (which fails those compressions) and forget the worker. */
  #lost(pw: PoolWorker, err: unknown): void {
    if (!this.#workers.delete(pw)) return;
    void pw.worker.terminate();
    // Their slots are not given back: the thread may still be reading them as it stops.
    const tasks = pw.tasks.splice(0);
    const message = err instanceof Error ? err.message : String(err);
    for (const task of tasks) {
      task.lane.running--;
      task.reject(new ProvenantError('IO', `a deflate worker thread failed: ${message}`, { cause: err }));
    }
    // The compressions that lost a block fail and drop their queues. Blocks of others still
    // queued get a new worker; each new worker takes blocks, so a worker that cannot even start
    // fails the compressions it was given per spawn rather than looping.
    if (this.#queue.length > 0) this.#spawn();
    this.#pump();
  }
}

/**
 * Shared memory for the blocks handed to the workers, reused from block to block. A block in a
 * buffer of its own, transferred to a worker, was freed only when that worker's V8 next collected
 * garbage, and the pinnedGzip stream made a new one for every block: with two workers, the
 * compression of a layer held about 100 MB of such buffers more than it used (issue 16,
 * "streaming end to end"). A worker reads its block from the slot in place, before it answers;
 * the slot then serves the next block. Free slots are held weakly: what no block asks for again
 * goes at the next collection, and an idle pool keeps nothing.
 */
class Slots {
  /** Free slots by size. */
  readonly #free = new Map<number, WeakRef<SharedArrayBuffer>[]>();

  /** A slot of at least `size` bytes: a free one, or a new one. */
  take(size: number): SharedArrayBuffer {
    const room = slotSize(size);
    const free = this.#free.get(room);
    while (free !== undefined && free.length > 0) {
      const slot = free.pop()!.deref();
      if (slot !== undefined) return slot;
    }
    return new SharedArrayBuffer(room);
  }

  give(slot: SharedArrayBuffer): void {
    let free = this.#free.get(slot.byteLength);
    if (free === undefined) {
      free = [];
      this.#free.set(slot.byteLength, free);
    }
    free.push(new WeakRef(slot));
  }
}

/** Slot sizes are powers of two from 64 KiB: a block of the usual size fits one exactly, short ones share a few sizes. */
function slotSize(size: number): number {
  return Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(Math.max(1, size))));
}

const ENTRY_OPTION = /^(-e|--eval|-p|--print|--input-type)(=|$)/;

/**
 * A worker that inherits the parent's Node options (type stripping, loaders, conditions), except
 * those about the parent's own entry point: under `node --input-type=module -e …` a worker fails
 * to load its file (ERR_INPUT_TYPE_NOT_ALLOWED). Options are only passed explicitly then, because
 * Node validates an explicit list and refuses per-process options in it (ERR_WORKER_INVALID_EXEC_ARGV,
 * e.g. under `node --test`, whose children get every non-default option as a flag); if it does,
 * the worker starts with none.
 */
function startWorker(url: URL): Worker {
  // node:worker_threads is taken when the first worker starts, not when this module loads: a
  // build whose layers all come from the cache compresses nothing, and loading it costs ~5 ms.
  const { Worker } = process.getBuiltinModule('node:worker_threads') as typeof import('node:worker_threads');
  const name = 'provenant-deflate';
  const parent = process.execArgv;
  if (!parent.some((arg) => ENTRY_OPTION.test(arg))) return new Worker(url, { name });
  const execArgv: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i]!;
    if (!ENTRY_OPTION.test(arg)) execArgv.push(arg);
    else if (!arg.includes('=')) i++; // its value is the next argument
  }
  try {
    return new Worker(url, { name, execArgv });
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    return new Worker(url, { name, execArgv: [] });
  }
}

let pool: DeflatePool | undefined;

export function sharedPool(): DeflatePool {
  // The worker is deflate-worker.ts next to this file when running the sources, and
  // deflate-worker.js when running the compiled dist/ (tsc rewrites import specifiers but not
  // this URL).
  const extension = new URL(import.meta.url).pathname.endsWith('.ts') ? '.ts' : '.js';
  pool ??= new DeflatePool(new URL(`./deflate-worker${extension}`, import.meta.url));
  return pool;
}
