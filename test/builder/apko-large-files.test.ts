// The apko-compatible build reads package files it hashes or copies: a CA bundle is hashed in
// pieces (a 1.5 GiB one, read whole, peaked at 1.67 GB; over 2 GiB Node refuses the read), and a
// package's own SBOM, copied whole, is refused past its cap naming the file and the package.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { caBundleChecksums, packageSboms } from '../../src/builder/apko.ts';
import { isProvenantError } from '../../src/errors.ts';
import type { ApkoInstalledRecord } from '../../src/pkg/apk/apko-db.ts';
import { ApkoFs } from '../../src/pkg/apk/apko-fs.ts';
import { Tree } from '../../src/vfs/tree.ts';

/** A sparse file of `size` zeros in `dir`, as a body on disk, with its SHA-256. */
function zeros(
  dir: string,
  size: number,
): { body: { path: string; offset: number; size: number; sha256: string; crc32: number }; sha256: string } {
  const path = join(dir, `zeros-${size}`);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  closeSync(fd);
  const piece = new Uint8Array(16 << 20);
  const hash = createHash('sha256');
  let crc = 0;
  for (let at = 0; at < size; at += piece.length) {
    const part = piece.subarray(0, Math.min(piece.length, size - at));
    hash.update(part);
    crc = crc32(part, crc);
  }
  const sha256 = hash.digest('hex');
  return { body: { path, offset: 0, size, sha256, crc32: crc >>> 0 }, sha256 };
}

const file = (owner: string, body: ReturnType<typeof zeros>['body']) =>
  ({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, owner, body }) as const;

describe('apko-compatible files read from packages', () => {
  it('hashes a CA bundle over 2 GiB in pieces for its .sha256 (Node refuses one read of it)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provenant-apko-big-'));
    try {
      const big = zeros(dir, 2 ** 31);
      const tree = new Tree();
      const fs = new ApkoFs(tree);
      fs.mkdirAll('etc/ssl/certs', 0o755);
      tree.put('etc/ssl/certs/ca-certificates.crt', file('ca-certificates-bundle', big.body));
      caBundleChecksums(fs, 7);
      const sidecar = fs.readFile('etc/ssl/certs/.ca-certificates.crt.sha256');
      assert.equal(new TextDecoder().decode(sidecar), `${big.sha256}  ca-certificates.crt\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a package's own SBOM past 64 MiB with TOO_LARGE naming the file and the package", () => {
    const dir = mkdtempSync(join(tmpdir(), 'provenant-apko-sbom-'));
    try {
      const big = zeros(dir, 64 * 1024 * 1024 + 1);
      const tree = new Tree();
      const fs = new ApkoFs(tree);
      fs.mkdirAll('var/lib/db/sbom', 0o755);
      tree.put('var/lib/db/sbom/p-1.0-r0.spdx.json', file('p', big.body));
      const records = [{ info: { name: 'p', version: '1.0-r0' } }] as unknown as ApkoInstalledRecord[];
      assert.throws(
        () => packageSboms(fs, records),
        (err) => {
          assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
          assert.equal(err.where, 'p: /var/lib/db/sbom/p-1.0-r0.spdx.json');
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
