// Text from outside printed by the CLI: no control character reaches the terminal raw.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { renderVerified, verificationFailure } from '../../src/cli/signing.ts';
import { visible, visibleLine } from '../../src/cli/visible.ts';
import type { CheckedSignature } from '../../src/sign/verify.ts';
import { layer, file as layerFile, layout, putImage, removeTemp } from '../image/diff-helpers.ts';
import { provenant, provenantOnTerminal } from './provenant.ts';

after(removeTemp);

/** C0 but newline and tab, DEL, C1. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the tests look for
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('visible', () => {
  it('escapes every control character but newline and tab, keeps the rest, and reads back as JSON', () => {
    assert.equal(visible('plain text, ünïcode\tand\nlines'), 'plain text, ünïcode\tand\nlines');
    assert.equal(visible('a\u001b]8;;https://x/\u0007b\r\u001b[2Kc\u009b'), 'a\\u001b]8;;https://x/\\u0007b\\u000d\\u001b[2Kc\\u009b');
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const out = visible(s);
        assert.doesNotMatch(out, CONTROL);
        // Each escape is JSON's: inside a JSON string it reads back as the character it stands for.
        if (!/\\/.test(s)) assert.equal(JSON.parse(`"${out.replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`), s);
      }),
    );
  });
});

describe('look-alike names', () => {
  it('escapes zero-width, bidirectional and soft-hyphen characters and the byte order mark, in lines and fields', () => {
    const hidden = '\u00ad\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff';
    const escaped = [...hidden].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    assert.equal(visible(`sha256:a${hidden}b`), `sha256:a${escaped}b`);
    assert.equal(visibleLine(`x${hidden}`), `x${escaped}`);
    // Their neighbours stay: U+2010 (hyphen), U+2070 (superscript zero), U+00AC, and letters, emoji
    // and CJK.
    assert.equal(visible('\u2010\u2070\u00ac é 漢字 🙂'), '\u2010\u2070\u00ac é 漢字 🙂');
  });

  it('escapes the other characters that show as nothing or a blank, astral ones as two units', () => {
    const cases: [string, string][] = [
      ['\u034f', '\\u034f'], // combining grapheme joiner
      ['\u061c', '\\u061c'], // Arabic letter mark
      ['\u115f\u1160\u3164\uffa0', '\\u115f\\u1160\\u3164\\uffa0'], // Hangul fillers
      ['\u180e', '\\u180e'], // Mongolian vowel separator
      ['\u2028\u2029', '\\u2028\\u2029'], // line and paragraph separators
      ['\u2060\u2064\u206a\u206f', '\\u2060\\u2064\\u206a\\u206f'], // word joiner, invisible operators, deprecated controls
      ['\ufe00\ufe0f', '\\ufe00\\ufe0f'], // variation selectors
      ['\u{e0041}\u{e007f}', '\\udb40\\udc41\\udb40\\udc7f'], // tag characters
    ];
    for (const [raw, escaped] of cases) {
      assert.equal(visibleLine(`open${raw}ssl`), `open${escaped}ssl`, escaped);
      assert.equal(visible(`open${raw}ssl`), `open${escaped}ssl`, escaped);
    }
  });

  it('escapes C1 and DEL in JSON data on a terminal only: a pipe gets the exact bytes', async () => {
    const store = await layout();
    const label = 'evil\u009b2J\u007f\u202egnp.exe';
    await putImage(store, [await layer([layerFile('x', 'x')])], { tag: 'v1', config: { Labels: { l: label } } });
    const ref = `${store.location}:v1`;
    const piped = await provenant(['report', ref, '--format', 'json', '--target', 'none']);
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(
      (JSON.parse(piped.stdout) as { platforms: { config: { labels: Record<string, string> } }[] }).platforms[0]?.config.labels.l,
      label,
    );
    const shown = await provenantOnTerminal(['report', ref, '--format', 'json', '--target', 'none'], []);
    assert.equal(shown.status, 0, shown.screen);
    assert.doesNotMatch(shown.screen, /[\u007f-\u009f\u202e]/);
    assert.match(shown.screen, /"l": "evil\\u009b2J\\u007f\\u202egnp\.exe"/);
    // Still JSON, with the same label.
    const json = JSON.parse(shown.screen.replace(/\r\n/g, '\n')) as { platforms: { config: { labels: Record<string, string> } }[] };
    assert.equal(json.platforms[0]?.config.labels.l, label);
  });
});

describe('verify', () => {
  it("keeps what a signature says about itself on its own line: a failed one prints no 'ok' line", () => {
    const fake = '\n  ok   attestation https://slsa.dev/provenance/v1  referrers sha256:1  by key trusted';
    const failed: CheckedSignature = {
      storage: 'referrers',
      format: 'bundle',
      kind: 'attestation',
      source: `sha256:2${fake}`,
      verified: false,
      reason: 'signature',
      message: `bad${fake}`,
      predicateType: `https://example.com/p${fake}`,
      transparencyLog: false,
    };
    const ok: CheckedSignature = { ...failed, verified: true, source: 'sha256:3', signer: { identity: `me${fake}`, issuer: 'x' } };
    const subject = `sha256:${'0'.repeat(64)}` as const;
    const error = verificationFailure('img', { subject, kind: 'attestation', checked: [failed], verified: [] });
    assert.doesNotMatch(error.message, /^ {2}ok/m);
    assert.equal(error.message.split('\n').length, 2);
    const text = renderVerified('img', { subject, kind: 'attestation', checked: [failed, ok], verified: [ok] });
    assert.deepEqual(
      text.split('\n').map((l) => l.slice(0, 6)),
      ['img (s', '  FAIL', '  ok  ', ''],
    );
  });
});

describe('visibleLine', () => {
  it('escapes newline, carriage return and tab too, so that a field stays on its line', () => {
    assert.equal(visibleLine('a\tb\r\nprovenant: all good\u0085'), 'a\\u0009b\\u000d\\u000aprovenant: all good\\u0085');
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const out = visibleLine(s);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the test looks for
        assert.doesNotMatch(out, /[\u0000-\u001f\u007f-\u009f]/);
        if (!/\\/.test(s)) assert.equal(JSON.parse(`"${out.replace(/"/g, '\\"')}"`), s);
      }),
    );
  });
});

describe('the CLI prints outside text visibly', () => {
  it("keeps a registry's error message on the error's line", async () => {
    const server = createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'no\nprovenant: all good, image verified' }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      const inspect = await provenant(['inspect', `${host}/a/b:v1`]);
      assert.notEqual(inspect.status, 0);
      assert.doesNotMatch(inspect.stderr, /^provenant: all good/m);
      assert.match(inspect.stderr, /DENIED: no\\u000aprovenant: all good, image verified/);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("escapes a registry's error message and leaves out tags that are no tags", async () => {
    const evil = 'oops\u001b]8;;https://evil.example/\u0007click\u001b]8;;\u0007\r\u001b[2Kprovenant: everything is fine';
    const server = createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (req.url?.includes('/tags/list')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ name: 'a/b', tags: ['v1', 'v2\nlatest; rm -rf ~', 'x\u001b]0;title\u0007'] }));
      }
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: evil }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      const inspect = await provenant(['inspect', `${host}/a/b:v1`]);
      assert.notEqual(inspect.status, 0);
      assert.match(inspect.stderr, /oops\\u001b\]8;;https:\/\/evil\.example\//);
      assert.doesNotMatch(inspect.stderr, CONTROL);
      const tags = await provenant(['tags', `${host}/a/b`]);
      assert.equal(tags.status, 0, tags.stderr);
      assert.equal(tags.stdout, 'v1\n');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
