// Another process for the layout store's tests, doing one thing to the layout DIR and then
// printing `ready` (and what it wrote) on one line:
//
//   node test/helpers/layout-writer.ts put-blob DIR TEXT     store TEXT as a blob, never close, exit
//   node test/helpers/layout-writer.ts hold-lock DIR MS      hold the layout's lock MS ms, release, exit
//   node test/helpers/layout-writer.ts die-holding-lock DIR  take the lock and exit without releasing it
//
// Exiting without closing or releasing is what a crash leaves behind.

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
  default:
    console.error(`unknown mode ${mode}`);
    process.exit(2);
}
