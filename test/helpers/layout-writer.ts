// Another process for the layout store's tests, doing one thing to the layout DIR and then
// printing `ready` (and what it wrote) on one line:
//
//   node test/helpers/layout-writer.ts put-blob DIR TEXT     store TEXT as a blob, never close, exit
//   node test/helpers/layout-writer.ts put-partial DIR N     start storing a blob of 192 KiB of byte N, and stay
//                                                            (until killed) with its first 64 KiB in a
//                                                            partial file, which is printed
//   node test/helpers/layout-writer.ts hold-lock DIR MS      hold the layout's lock MS ms, release, exit
//   node test/helpers/layout-writer.ts die-holding-lock DIR  take the lock and exit without releasing it
//   node test/helpers/layout-writer.ts stop-holding-lock DIR take the lock, stop itself (SIGSTOP);
//                                                            once continued, release it and exit
//   node test/helpers/layout-writer.ts stop-tagging DIR TAG  tag the image tagged `base` TAG, stopping
//                                                            itself (printing `ready`) once the new
//                                                            index.json is being written; once
//                                                            continued, print `wrote` or `refused CODE`
//
// Exiting without closing or releasing is what a crash leaves behind.

import { writeSync } from 'node:fs';
import { isProvenantError } from '../../src/errors.ts';
import { bytesSource } from '../../src/io/types.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { LayoutLock } from '../../src/store/layout-lock.ts';

const [mode, dir, arg] = process.argv.slice(2);
if (dir === undefined) {
  console.error('usage: layout-writer.ts put-blob|hold-lock|die-holding-lock DIR [ARG]');
  process.exit(2);
}
switch (mode) {
  case 'put-blob': {
    const bytes = new TextEncoder().encode(arg ?? '');
    const store = await LayoutStore.open(dir);
    const d = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.length };
    await store.putBlob(bytesSource(d, bytes));
    process.stdout.write(`ready ${d.digest}\n`);
    process.exit(0);
    break;
  }
  case 'put-partial': {
    const { readdir } = process.getBuiltinModule('node:fs/promises');
    const blobs = `${dir}/blobs/sha256`;
    const before = new Set(await readdir(blobs));
    const store = await LayoutStore.open(dir);
    const bytes = new Uint8Array(3 * 65536).fill(Number(arg ?? 1));
    const d = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.length };
    void store.putBlob({
      descriptor: d,
      open: async () =>
        (async function* () {
          yield bytes.subarray(0, 65536);
          await new Promise(() => {});
        })(),
    });
    setInterval(() => {}, 1 << 30);
    for (;;) {
      const partial = (await readdir(blobs)).find((n) => n.startsWith('.') && !before.has(n));
      if (partial !== undefined) {
        process.stdout.write(`ready ${partial}\n`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    break;
  }
  case 'hold-lock': {
    const lock = await LayoutLock.acquire(dir);
    process.stdout.write('ready\n');
    await new Promise((resolve) => setTimeout(resolve, Number(arg)));
    await lock.release();
    break;
  }
  case 'die-holding-lock': {
    await LayoutLock.acquire(dir);
    process.stdout.write('ready\n');
    process.exit(0);
    break;
  }
  case 'stop-holding-lock': {
    const lock = await LayoutLock.acquire(dir);
    // Written before the stop, and synchronously: a pipe write left pending would wait for it.
    writeSync(1, 'ready\n');
    process.kill(process.pid, 'SIGSTOP');
    await lock.release();
    break;
  }
  case 'stop-tagging': {
    const store = await LayoutStore.open(dir);
    const stored = await store.getManifest('base');
    // The store writes index.json through a temporary file beside it: stopped when that is
    // opened, this process holds the lock, has read index.json, and has not put the new one in place.
    const fsp = process.getBuiltinModule('node:fs/promises');
    const open = fsp.open;
    fsp.open = (async (path: Parameters<typeof open>[0], ...rest: unknown[]) => {
      if (String(path).includes('/index.json.tmp-')) {
        writeSync(1, 'ready\n');
        process.kill(process.pid, 'SIGSTOP');
      }
      return (open as (...a: unknown[]) => ReturnType<typeof open>)(path, ...rest);
    }) as typeof open;
    try {
      await store.putManifest(stored, { tags: [arg ?? 'stalled'] });
      writeSync(1, 'wrote\n');
    } catch (err) {
      writeSync(1, `refused ${isProvenantError(err) ? err.code : String(err)}\n`);
    }
    break;
  }
  default:
    console.error(`unknown mode ${mode}`);
    process.exit(2);
}
