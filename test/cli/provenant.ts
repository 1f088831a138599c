// Runs the provenant CLI entry point as a process, for the command tests (not a test file).
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const MAIN = join(root, 'src', 'cli', 'main.ts');

/** What a run printed and how it ended. */
export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `provenant ARGS` in `cwd` with a clean environment: PATH, a HOME and DOCKER_CONFIG that
 * hold nothing, and `env` on top. Never throws for a non-zero exit: the test checks `status`.
 */
export function provenant(args: string[], options: { cwd?: string; env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [MAIN, ...args],
      {
        cwd: options.cwd ?? root,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', DOCKER_CONFIG: '/nonexistent', ...options.env },
      },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        if (err !== null && typeof code !== 'number') reject(err);
        else resolve({ status: typeof code === 'number' ? code : 0, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}
