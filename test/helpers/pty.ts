// A command run on a real pseudo-terminal (python3's pty module): the process sees a tty on its
// standard streams, as in a user's terminal, and Ctrl-C can be typed into it.
import { spawn } from 'node:child_process';
import { toolMissing } from './images.ts';

/** Why pty tests cannot run here, or false. */
export const ptyMissing: string | false = toolMissing('python3');

// The child gets the terminal's slave side as its standard streams and a 120x40 window; the
// parent copies what it writes, types Ctrl-C (^C, which the terminal turns into SIGINT for the
// foreground process) once `interrupt` has appeared, kills the child at the deadline, and reports
// the exit code on stderr.
const SCRIPT = `
import fcntl, json, os, pty, select, signal, struct, sys, termios, time
argv = json.loads(sys.argv[1]); interrupt = sys.argv[2].encode(); deadline = time.time() + float(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
    os.execvp(argv[0], argv)
out = b''; sent = False; killed = False
while True:
    if not killed and time.time() > deadline:
        os.kill(pid, signal.SIGKILL); killed = True
        out += b'[pty runner: killed at the deadline]'
    if not select.select([fd], [], [], 1)[0]:
        continue
    try:
        data = os.read(fd, 65536)
    except OSError:
        break
    if not data:
        break
    out += data
    if interrupt and not sent and interrupt in out:
        os.write(fd, b'\\x03'); sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.stderr.write(str(os.waitstatus_to_exitcode(status)))
`;

/** What the terminal showed (standard output and error, as the terminal got them) and the exit code. */
export interface PtyRun {
  status: number;
  output: string;
}

/**
 * Runs `argv` on a pseudo-terminal in `cwd` with `env`; types Ctrl-C once `interrupt` has been
 * shown; kills it after `timeoutSeconds` (default 120), so that a test waiting for output that
 * never comes fails instead of hanging.
 */
export function runInPty(
  argv: readonly string[],
  options: { cwd: string; env: Record<string, string>; interrupt?: string; timeoutSeconds?: number },
): Promise<PtyRun> {
  return new Promise((resolve, reject) => {
    const args = ['-c', SCRIPT, JSON.stringify(argv), options.interrupt ?? '', String(options.timeoutSeconds ?? 120)];
    const child = spawn('python3', args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', () => {
      const status = Number(err.trim().split('\n').pop());
      if (!Number.isInteger(status)) reject(new Error(`the pty runner failed: ${err}`));
      else resolve({ status, output: Buffer.concat(out).toString('utf8') });
    });
  });
}
