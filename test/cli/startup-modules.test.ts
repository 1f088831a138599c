// The Node built-ins a command loads before it is done: each costs start-up time (issue 16,
// "instant start"). `digest` of a layout hashes nothing, spawns nothing and starts no worker, so
// node:crypto, child_process and worker_threads must not load; an ESM import of node:fs or
// node:util would also load util's diff and the fs watchers, which check-deps forbids.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { cliLoading } from '../helpers/cli.ts';
import { makeImage } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempLayout } from '../helpers/temp.ts';

/** What `provenant ARGS` printed, and the built-in modules it loaded (`crypto`, `internal/util/diff`, ...), from Node's list. */
async function builtinsOf(args: string[]): Promise<{ stdout: string; builtins: string[] }> {
  const { run, loaded } = await cliLoading(args, { list: 'process.moduleLoadList' });
  return { stdout: run.stdout, builtins: loaded.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length)) };
}

// Nor the streams: its one line goes out with writeSync (cli/output.ts), not through
// process.stdout, whose stream object loads them. Nor fs/promises (with its watchers and
// readline): the layout is read with synchronous calls (store/layout-files.ts). Nor node:os: the
// home folder and the host name are asked for when a command needs them. Nor parseArgs, for a
// command line without flags.
const NOT_FOR_DIGEST = [
  'crypto',
  'child_process',
  'worker_threads',
  'internal/util/diff',
  'v8',
  'vm',
  'stream',
  'internal/streams/writable',
  'fs/promises',
  'os',
  'internal/util/parse_args/parse_args',
  // Nor the AbortController: the cancel signal is made when a command asks for it (cli/dispatch.ts),
  // and reading a layout does not (cli/stores.ts, signalFor).
  'internal/abort_controller',
];

describe('the built-ins a command loads', () => {
  const layout = useTempLayout('startup');

  it('digest of a layout loads no hashing, no process spawning, no workers', async () => {
    const store = await layout();
    const made = await makeImage(store, { tag: 'v1' });
    const { stdout, builtins } = await builtinsOf(['digest', `${store.location}:v1`]);
    assert.equal(stdout, `${made.root.digest}\n`);
    assert.ok(builtins.includes('fs'), 'the list is the real one');
    assert.deepEqual(
      NOT_FOR_DIGEST.filter((m) => builtins.includes(m)),
      [],
    );
  });

  // libuv's thread pool starts with the first asynchronous file call and costs about 5 million
  // instructions; the layout's small files are read with synchronous calls (store/layout-files.ts).
  it('digest of a layout starts no thread beyond those Node starts for `node -e 0`', async () => {
    const store = await layout();
    const made = await makeImage(store, { tag: 'v1' });
    const threads = "process.getBuiltinModule('node:fs').readdirSync('/proc/self/task')";
    const { run, loaded } = await cliLoading(['digest', `${store.location}:v1`], { list: threads });
    assert.equal(run.stdout, `${made.root.digest}\n`);
    const node = spawnSync(process.execPath, ['-e', `process.stdout.write(String(${threads}.length))`], { encoding: 'utf8' });
    assert.equal(node.status, 0, node.stderr);
    const own = Number(node.stdout);
    assert.ok(own >= 1, `Node's own threads: ${node.stdout}`);
    assert.equal(loaded.length, own, `digest ran ${loaded.length} threads, node -e 0 ${own}`);
    // The count does tell: a read through the callback API starts the pool.
    const pooled = spawnSync(
      process.execPath,
      ['-e', `process.getBuiltinModule('node:fs').stat('/', () => process.stdout.write(String(${threads}.length)))`],
      { encoding: 'utf8' },
    );
    assert.ok(Number(pooled.stdout) > own, `with the pool ${pooled.stdout}, without ${own}`);
  });

  describe('a push of an image the registry has', { skip: registryMissing }, () => {
    const reg = useRegistry();

    it('spawns nothing, starts no worker and does not load parseArgs', async () => {
      const store = await layout();
      await makeImage(store, { tag: 'v1' });
      const args = ['copy', '--quiet', `${store.location}:v1`, `${reg.host}/startup/noop:v1`];
      await builtinsOf(args);
      const { builtins } = await builtinsOf(args);
      assert.ok(builtins.includes('crypto'), 'the source manifest is checked against its digest');
      assert.ok(builtins.includes('internal/abort_controller'), 'requests to a registry get the cancel signal');
      // Nor parseArgs: `--quiet` and two positionals are read by cli/args.ts itself (plainArgs).
      assert.deepEqual(
        ['child_process', 'worker_threads', 'internal/util/parse_args/parse_args'].filter((m) => builtins.includes(m)),
        [],
      );
    });
  });
});
