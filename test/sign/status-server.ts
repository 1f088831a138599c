/**
 * A Sigstore service that fails: an HTTP server on 127.0.0.1 answering every request with the
 * status (and Fulcio-style JSON message) a test sets, counting the requests, for the errors that
 * signing against a Fulcio, Rekor or timestamp authority that refuses must give.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running server: its URL (`http://127.0.0.1:PORT`), what it answers, and the paths it was asked. */
export interface StatusServer {
  url: string;
  /** The status every request gets, and the `message` of its JSON body (none: an empty body). */
  answer: { status: number; message?: string };
  /** The path of each request, in order. */
  paths: string[];
  stop(): Promise<void>;
}

export async function startStatusServer(answer: StatusServer['answer']): Promise<StatusServer> {
  const paths: string[] = [];
  const out: StatusServer = {
    url: '',
    answer,
    paths,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      paths.push(req.url ?? '');
      const { status, message } = out.answer;
      if (message === undefined) {
        res.writeHead(status).end();
        return;
      }
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ code: 16, message }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  out.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return out;
}
