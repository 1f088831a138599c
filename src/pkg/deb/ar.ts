/**
 * The `ar` archive format as a .deb uses it: the magic `!<arch>\n`, then members, each a 60-byte
 * header and a body padded to an even length with `\n`.
 *
 * The format: deb(5) and ar(5) (the dpkg-dev manual pages,
 * https://www.freebsd.org/cgi/man.cgi?query=ar&sektion=5). A header holds, in ASCII padded with
 * spaces: name (16 bytes), mtime (12, decimal), uid (6, decimal), gid (6, decimal), mode (8,
 * octal), size (10, decimal) and the two bytes "`\n". A .deb's member names are short, so GNU's
 * long-name table (`//`, `/123`), its symbol table (`/`) and BSD's `#1/<length>` names are not
 * read: they are refused, as is anything else that does not follow the format exactly.
 */
import { ProvenantError } from '../../errors.ts';

/** One member of an ar archive. */
export interface ArMember {
  /** The name, without the padding spaces and without the trailing `/` of the GNU form. */
  name: string;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  uid: number;
  gid: number;
  /** Mode bits, as the octal field says (may include file-type bits such as `0o100644`). */
  mode: number;
  /** Byte offset of the header in the archive. */
  offset: number;
  /** The body: a view into the archive's bytes, not a copy. */
  data: Uint8Array;
}

/** A member to write with {@link writeAr}; numbers default to 0 and the mode to `0o100644`. */
export interface ArWriteMember {
  name: string;
  data: Uint8Array;
  mtime?: number | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
  mode?: number | undefined;
}

/** Options of {@link readAr}. */
export interface ReadArOptions {
  /** Where the archive comes from, for errors. */
  where?: string | undefined;
}

/** The 8 bytes every ar archive starts with. */
const AR_MAGIC = '!<arch>\n';
const HEADER = 60;
const FIELDS = [
  ['name', 0, 16],
  ['mtime', 16, 12],
  ['uid', 28, 6],
  ['gid', 34, 6],
  ['mode', 40, 8],
  ['size', 48, 10],
] as const;

/** True when `bytes` starts with the ar magic. */
function isAr(bytes: Uint8Array): boolean {
  if (bytes.length < AR_MAGIC.length) return false;
  for (let i = 0; i < AR_MAGIC.length; i++) if (bytes[i] !== AR_MAGIC.charCodeAt(i)) return false;
  return true;
}

/** Where a member of an ar archive lies, without its body: what {@link readAr} and {@link readArFile} walk. */
export type ArEntry = Omit<ArMember, 'data'> & {
  /** Byte offset of the body in the archive. */
  start: number;
  /** Size of the body in bytes. */
  size: number;
};

/**
 * Reads every member of an ar archive held in memory. Bodies are views into `bytes`.
 *
 * Strict: the magic must be there; each header must end in "`\n", its numbers must be digits
 * (left-aligned, padded with spaces; only the size may not be blank) and its name printable
 * ASCII; an odd-sized body must be followed by one `\n`; and the archive must end right after
 * the last member's padding.
 *
 * @throws ProvenantError `INVALID_ARCHIVE` for a missing magic, a malformed header or padding,
 *   or a GNU/BSD extended name (not used by .deb); `TRUNCATED` when the data ends inside a header
 *   or a body
 */
export function readAr(bytes: Uint8Array, options: ReadArOptions = {}): ArMember[] {
  return walkAr(bytes.length, (at, length) => bytes.subarray(at, at + length), options.where).map(({ start, size, ...m }) => ({
    ...m,
    data: bytes.subarray(start, start + size),
  }));
}

/**
 * {@link readAr} of the archive in the file open as `fd` (`size` bytes), reading its headers and
 * padding bytes and none of its bodies: where each member lies, for a reader that streams them.
 *
 * @throws ProvenantError as {@link readAr}; `IO` when the file cannot be read
 */
export function readArFile(fd: number, size: number, options: ReadArOptions = {}): ArEntry[] {
  const { readSync } = process.getBuiltinModule('node:fs');
  return walkAr(
    size,
    (at, length) => {
      const out = new Uint8Array(Math.max(0, Math.min(length, size - at)));
      let n = 0;
      try {
        while (n < out.length) {
          const read = readSync(fd, out, n, out.length - n, at + n);
          if (read === 0) break;
          n += read;
        }
      } catch (err) {
        throw new ProvenantError('IO', `cannot read the archive: ${(err as Error).message}`, { where: options.where, cause: err });
      }
      return out.subarray(0, n);
    },
    options.where,
  );
}

/**
 * The members of an ar archive of `total` bytes, `at(offset, length)` giving its bytes there (fewer
 * at its end): the rules and errors of {@link readAr}.
 */
function walkAr(total: number, at: (offset: number, length: number) => Uint8Array, where: string | undefined): ArEntry[] {
  const invalid = (why: string): ProvenantError =>
    new ProvenantError('INVALID_ARCHIVE', `not a valid ar archive: ${why}`, {
      where,
      hint: 'the file is corrupt or not a Debian package',
    });
  if (!isAr(at(0, AR_MAGIC.length))) throw invalid('it does not start with "!<arch>\\n"');
  const members: ArEntry[] = [];
  let pos = AR_MAGIC.length;
  while (pos < total) {
    if (pos + HEADER > total) {
      throw new ProvenantError(
        'TRUNCATED',
        `the ar archive ends inside the header of member ${members.length + 1} at byte ${pos} (${total - pos} of ${HEADER} bytes)`,
        { where },
      );
    }
    const header = at(pos, HEADER);
    if (header[58] !== 0x60 || header[59] !== 0x0a) throw invalid(`the header at byte ${pos} does not end in "\`\\n"`);
    const field = (i: number): string => {
      const [, off, len] = FIELDS[i]!;
      let s = '';
      for (let j = off; j < off + len; j++) s += String.fromCharCode(header[j]!);
      return s;
    };
    const rawName = field(0);
    const name = parseName(rawName, pos, invalid);
    const number = (i: number, radix: 8 | 10, allowBlank: boolean): number => {
      const text = field(i);
      const m = /^(\d*) *$/.exec(text);
      const label = FIELDS[i]![0];
      if (m === null || (radix === 8 && /[89]/.test(m[1]!))) {
        throw invalid(
          `the ${label} field of the header at byte ${pos} is not ${radix === 8 ? 'an octal' : 'a decimal'} number: ${JSON.stringify(text)}`,
        );
      }
      if (m[1] === '') {
        if (!allowBlank) throw invalid(`the ${label} field of the header at byte ${pos} is blank`);
        return 0;
      }
      return Number.parseInt(m[1]!, radix);
    };
    const mtime = number(1, 10, true);
    const uid = number(2, 10, true);
    const gid = number(3, 10, true);
    const mode = number(4, 8, true);
    const size = number(5, 10, false);
    const start = pos + HEADER;
    if (start + size > total) {
      throw new ProvenantError(
        'TRUNCATED',
        `the ar member ${JSON.stringify(name)} at byte ${pos} has ${total - start} of its ${size} bytes`,
        { where },
      );
    }
    let next = start + size;
    if (size % 2 === 1) {
      if (next >= total) {
        throw new ProvenantError(
          'TRUNCATED',
          `the ar member ${JSON.stringify(name)} at byte ${pos} lacks the padding byte after its odd-sized body`,
          {
            where,
          },
        );
      }
      if (at(next, 1)[0] !== 0x0a) throw invalid(`the padding byte after the member ${JSON.stringify(name)} at byte ${pos} is not "\\n"`);
      next++;
    }
    members.push({ name, mtime, uid, gid, mode, offset: pos, start, size });
    pos = next;
  }
  return members;
}

function parseName(raw: string, pos: number, invalid: (why: string) => ProvenantError): string {
  const trimmed = raw.replace(/ +$/, '');
  if (trimmed === '') throw invalid(`the header at byte ${pos} has an empty name`);
  if (trimmed === '/' || trimmed === '//' || /^\/\d+$/.test(trimmed) || trimmed.startsWith('#1/')) {
    throw invalid(
      `the header at byte ${pos} holds a GNU or BSD extended name entry (${JSON.stringify(trimmed)}), which a Debian package never has`,
    );
  }
  // GNU ar ends short names with "/"; dpkg-deb and BSD ar do not.
  const name = trimmed.endsWith('/') ? trimmed.slice(0, -1) : trimmed;
  if (!/^[\x21-\x7e]+$/.test(name) || name.includes('/')) {
    throw invalid(`the header at byte ${pos} has a name that is not printable ASCII without "/": ${JSON.stringify(raw)}`);
  }
  return name;
}

/**
 * Writes an ar archive the way dpkg-deb does: names padded with spaces (no trailing `/`),
 * decimal numbers, octal mode, odd bodies padded with `\n`. Deterministic for the same members.
 *
 * @throws ProvenantError `USAGE` for a name that is empty, longer than 16 bytes or holds a `/`,
 *   space or non-ASCII character, or a number that does not fit its field
 */
export function writeAr(members: readonly ArWriteMember[]): Uint8Array {
  const headers: Uint8Array[] = [];
  let total = AR_MAGIC.length;
  for (const m of members) {
    if (!/^[\x21-\x2e\x30-\x7e]{1,16}$/.test(m.name)) {
      throw new ProvenantError(
        'USAGE',
        `cannot write the ar member name ${JSON.stringify(m.name)}: 1 to 16 printable ASCII characters without "/"`,
      );
    }
    const field = (label: string, value: number, width: number, radix: 8 | 10): string => {
      const text = Number.isSafeInteger(value) && value >= 0 ? value.toString(radix) : '';
      if (text === '' || text.length > width) {
        throw new ProvenantError(
          'USAGE',
          `cannot write the ${label} ${value} of ar member ${m.name} in ${width} ${radix === 8 ? 'octal' : 'decimal'} digits`,
        );
      }
      return text.padEnd(width, ' ');
    };
    const text =
      m.name.padEnd(16, ' ') +
      field('mtime', m.mtime ?? 0, 12, 10) +
      field('uid', m.uid ?? 0, 6, 10) +
      field('gid', m.gid ?? 0, 6, 10) +
      field('mode', m.mode ?? 0o100644, 8, 8) +
      field('size', m.data.length, 10, 10) +
      '`\n';
    headers.push(new TextEncoder().encode(text));
    total += HEADER + m.data.length + (m.data.length % 2);
  }
  const out = new Uint8Array(total);
  out.set(new TextEncoder().encode(AR_MAGIC), 0);
  let pos = AR_MAGIC.length;
  members.forEach((m, i) => {
    out.set(headers[i]!, pos);
    out.set(m.data, pos + HEADER);
    pos += HEADER + m.data.length;
    if (m.data.length % 2 === 1) out[pos++] = 0x0a;
  });
  return out;
}
