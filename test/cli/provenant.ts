// The CLI run as a child process without blocking the test's event loop, so servers the test runs
// in-process (a mock Sigstore) can answer it (not a test file).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { NO_HOME } from '../helpers/temp.ts';

export const root = join(import.meta.dirname, '..', '..');
export const main = join(root, 'src', 'cli', 'main.ts');
/** The bundled two-platform example image. */
export const exampleDir = join(root, 'examples', 'hello-oci');

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `provenant ARGS` with a clean environment (no credentials, no password variables, no
 * terminal) plus `env`, in `cwd`.
 */
export function provenant(args: string[], options: { env?: Record<string, string>; cwd?: string; input?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [main, ...args],
      {
        encoding: 'utf8',
        cwd: options.cwd ?? root,
        env: { PATH: process.env.PATH ?? '', HOME: NO_HOME, DOCKER_CONFIG: '/nonexistent', ...options.env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve({ status: err === null ? 0 : typeof code === 'number' ? code : -1, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

// Drives a command on a pseudo-terminal: waits for each prompt, types its answer and Enter, and
// prints everything the terminal showed; exits with the command's status.
const PTY_DRIVER = `
import json, os, pty, select, sys, time
answers = json.loads(os.environ.pop('PTY_ANSWERS'))
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
deadline = time.time() + 60
def pump():
    global out
    r, _, _ = select.select([fd], [], [], 0.1)
    if not r:
        return True
    try:
        data = os.read(fd, 4096)
    except OSError:
        return False
    out += data
    return len(data) > 0
seen = 0
for prompt, answer in answers:
    while prompt.encode() not in out[seen:] and time.time() < deadline and pump():
        pass
    seen = len(out)
    time.sleep(0.05)
    os.write(fd, answer.encode() + b'\\r')
while time.time() < deadline and pump():
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;

/** Runs `provenant ARGS` on a pseudo-terminal (python3's pty), answering each prompt in turn. */
export function provenantOnTerminal(
  args: string[],
  answers: [prompt: string, answer: string][],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<{ status: number; screen: string }> {
  return new Promise((resolve) => {
    execFile(
      'python3',
      ['-c', PTY_DRIVER, process.execPath, main, ...args],
      {
        encoding: 'utf8',
        cwd: options.cwd ?? root,
        env: { PATH: process.env.PATH ?? '', HOME: NO_HOME, PTY_ANSWERS: JSON.stringify(answers), ...options.env },
      },
      (err, stdout) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve({ status: err === null ? 0 : typeof code === 'number' ? code : -1, screen: stdout });
      },
    );
  });
}
