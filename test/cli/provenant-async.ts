// Runs the CLI as a child process without blocking this one, so that servers the test runs (a package repository, a mock Sigstore) keep answering.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { NO_HOME } from '../helpers/temp.ts';

const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

/** What a run of `provenant` gave. */
export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `provenant ARGS` with a clean environment (no credentials), in `cwd` when given. */
export function provenantAsync(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [main, ...args],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        env: { PATH: process.env.PATH ?? '', HOME: NO_HOME, DOCKER_CONFIG: '/nonexistent', ...options.env },
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve({ status: err === null ? 0 : typeof code === 'number' ? code : -1, stdout, stderr });
      },
    );
  });
}
