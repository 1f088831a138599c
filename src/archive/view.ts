/**
 * A read-only view of a tar file's members, read in place: nothing is unpacked, so nothing in the
 * archive can name, create or read a file of the host. `oci-archive:` and `docker-archive:` are
 * read this way.
 */
import { abbreviated, utf8LengthAbove } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import type { ByteStream } from '../io/types.ts';
import { verifyStream } from '../io/verify.ts';
import type { Descriptor } from '../oci/types.ts';
import { cleanEntryPath, PATH_MAX, unusableLinkTarget } from './paths.ts';
import { openTarMember, scanTarFile, type TarHeader } from './tar.ts';

/** A regular file of a {@link TarView}: where its body lies in the tar file. */
export interface TarViewFile {
  /** The member's name, cleaned (see `cleanEntryPath`): the file's own, after links are followed. */
  readonly name: string;
  /** The member's header as stored. */
  readonly header: TarHeader;
  /** Byte offset of the body in the tar file. */
  readonly offset: number;
  /** Bytes of the body. */
  readonly size: number;
}

/** Options of {@link TarView.open}. */
export interface TarViewOptions {
  /** Where the archive comes from (`oci-archive:FILE`, say), for errors. */
  where?: string | undefined;
}

type Member = { kind: 'file'; file: TarViewFile } | { kind: 'dir' } | { kind: 'link'; header: TarHeader; target: string };

/** Links followed in one lookup before it is taken for a loop, as Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;

/**
 * The members of a tar file as a namespace of its own, looked up by name and read by offset.
 *
 * Names are cleaned lexically (`./a//b/` is `a/b`). Symlinks and hardlinks are resolved inside
 * the archive's names only, never through the host's filesystem: a symlink's target is taken
 * relative to its own folder, a hardlink's relative to the archive's root (as tar stores them),
 * both cleaned lexically, and chains are followed up to 40 links. When a name repeats, the last
 * entry wins, as it does when tar extracts.
 *
 * {@link TarView.open} refuses, with a typed error and before anything is read through the view:
 * a name or link target that is absolute or climbs above the archive's root, an entry stored
 * beneath a link or beneath a file (how crafted archives reach past a lexical check), a link loop,
 * and devices and FIFOs, which no image archive holds.
 */
export class TarView {
  /** The tar file. */
  readonly path: string;
  /** Where the archive comes from, for errors. */
  readonly where: string;
  readonly #members: Map<string, Member>;

  private constructor(path: string, where: string, members: Map<string, Member>) {
    this.path = path;
    this.where = where;
    this.#members = members;
  }

  /**
   * Indexes `path` (headers only) and checks every entry.
   *
   * @throws ProvenantError `UNSAFE_PATH` for an absolute or climbing name or link target, an entry
   *   beneath a link; `INVALID_ARCHIVE` for an empty archive, a link loop, an entry beneath a file,
   *   a device or FIFO, or anything the tar reader refuses; `TRUNCATED`, `NOT_FOUND`, `IO` as
   *   `scanTarFile` gives them
   */
  static async open(path: string, options: TarViewOptions = {}): Promise<TarView> {
    const where = options.where ?? path;
    const members = new Map<string, Member>();
    for await (const entry of scanTarFile(path, { where })) {
      const { header } = entry;
      const name = cleanEntryPath(header.name, `${where}: ${header.name}`);
      let member: Member;
      switch (header.type) {
        case 'file':
          member = { kind: 'file', file: { name, header, offset: entry.offset, size: entry.size } };
          break;
        case 'dir':
          member = { kind: 'dir' };
          break;
        case 'symlink':
        case 'hardlink':
          member = { kind: 'link', header, target: linkTarget(name, header, where) };
          break;
        default:
          throw new ProvenantError('INVALID_ARCHIVE', `the archive holds a ${header.type} entry, ${JSON.stringify(header.name)}`, {
            where,
            hint: 'an image archive holds only files, folders and links',
          });
      }
      if (name === '.' && member.kind !== 'dir') {
        throw new ProvenantError(
          'UNSAFE_PATH',
          `the ${header.type} entry ${JSON.stringify(header.name)} would replace the archive's root`,
          {
            where,
          },
        );
      }
      members.delete(name); // archive order for a repeated name: the last one wins
      members.set(name, member);
    }
    if (members.size === 0) throw new ProvenantError('INVALID_ARCHIVE', 'the archive is empty', { where });
    const view = new TarView(path, where, members);
    view.#check();
    return view;
  }

  /** Every member's cleaned name (files, folders and links), in archive order. */
  names(): string[] {
    return [...this.#members.keys()];
  }

  /**
   * The regular file `name` leads to, following links inside the archive; undefined when there
   * is none (missing, a folder, or a dangling link).
   *
   * @throws ProvenantError `UNSAFE_PATH` when `name` itself is absolute or climbs above the root
   */
  file(name: string): TarViewFile | undefined {
    const at = this.#walk(cleanEntryPath(name, `${this.where}: ${name}`), name);
    if (at === undefined) return undefined;
    const member = this.#members.get(at);
    return member?.kind === 'file' ? member.file : undefined;
  }

  /**
   * Streams bytes `start` to `end` (the whole body by default) of a file from {@link TarView.file}.
   *
   * @throws ProvenantError as `openTarMember` does: `TRUNCATED` when the file has become shorter
   */
  read(file: TarViewFile, start = 0, end = file.size): AsyncGenerator<Uint8Array> {
    return openTarMember(this.path, { offset: file.offset, size: Math.min(end, file.size) }, start, { where: this.where });
  }

  /**
   * A file read as the blob `descriptor` names: checked against its digest and size, from byte
   * `offset` (the bytes before it hashed, not passed on), so a resumed read is checked whole.
   *
   * @throws ProvenantError `USAGE` when `offset` is not within the file; as {@link verifyStream}
   *   (from the stream) when the bytes are not the blob's
   */
  readBlob(file: TarViewFile, descriptor: Descriptor, offset: number): ByteStream {
    const where = `${this.where}@${descriptor.digest}`;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > file.size) {
      throw new ProvenantError('USAGE', `cannot read blob ${descriptor.digest} from byte ${offset}: it has ${file.size} bytes`, { where });
    }
    const prefix = offset > 0 ? this.read(file, 0, offset) : undefined;
    return verifyStream(this.read(file, offset), descriptor, where, prefix);
  }

  /**
   * Resolves every part of `path` (clean) through links; the result may not exist. Undefined
   * when a part before the last is a file.
   */
  #walk(path: string, asked: string): string | undefined {
    const todo = path === '.' ? [] : path.split('/');
    const parts: string[] = [];
    let links = 0;
    while (todo.length > 0) {
      parts.push(todo.shift() as string);
      const member = this.#members.get(parts.join('/'));
      if (member?.kind === 'link') {
        if (++links > MAX_LINKS) {
          throw new ProvenantError('INVALID_ARCHIVE', `more than ${MAX_LINKS} links (a loop) resolving ${JSON.stringify(asked)}`, {
            where: this.where,
          });
        }
        // Targets are cleaned archive paths from the root: a lookup never leaves the names.
        parts.length = 0;
        if (member.target !== '.') todo.unshift(...member.target.split('/'));
        continue;
      }
      if (member?.kind === 'file' && todo.length > 0) return undefined;
    }
    return parts.length === 0 ? '.' : parts.join('/');
  }

  /** The checks that need every member: nothing beneath a link or a file, no link loop. */
  #check(): void {
    for (const name of this.#members.keys()) {
      let slash = name.indexOf('/');
      while (slash >= 0) {
        const above = this.#members.get(name.slice(0, slash));
        if (above?.kind === 'link') {
          throw new ProvenantError(
            'UNSAFE_PATH',
            `the entry ${JSON.stringify(name)} lies beneath the ${above.header.type} ${JSON.stringify(name.slice(0, slash))}`,
            { where: this.where, hint: 'the archive may be crafted to reach outside its folder through links; do not unpack it' },
          );
        }
        if (above?.kind === 'file') {
          throw new ProvenantError(
            'INVALID_ARCHIVE',
            `the entry ${JSON.stringify(name)} lies beneath the file ${JSON.stringify(name.slice(0, slash))}`,
            {
              where: this.where,
            },
          );
        }
        slash = name.indexOf('/', slash + 1);
      }
    }
    for (const [name, member] of this.#members) if (member.kind === 'link') this.#walk(name, name);
  }
}

/** A link's target as a clean archive path from the root, refusing one that leaves the archive. */
function linkTarget(name: string, header: TarHeader, where: string): string {
  const link = header.linkname;
  const shown = `the ${header.type} ${JSON.stringify(abbreviated(header.name))} -> ${JSON.stringify(abbreviated(link))}`;
  const unusable = unusableLinkTarget(link);
  if (unusable !== undefined) throw new ProvenantError('INVALID_ARCHIVE', `${shown} has no usable target: it ${unusable}`, { where });
  if (link.startsWith('/')) {
    throw new ProvenantError('UNSAFE_PATH', `${shown} points at an absolute path, outside the archive`, {
      where,
      hint: 'the archive may be crafted to reach outside its folder through links; do not unpack it',
    });
  }
  // tar stores a hardlink's target from the archive's root, a symlink's from its own folder.
  const slash = name.lastIndexOf('/');
  const joined = header.type === 'symlink' && slash >= 0 ? `${name.slice(0, slash)}/${link}` : link;
  // Too long to hold is not outside: said as it is (the link's own target is within PATH_MAX).
  const bytes = utf8LengthAbove(joined, PATH_MAX);
  if (bytes > PATH_MAX) {
    throw new ProvenantError('UNSAFE_PATH', `${shown} leads to a path of ${bytes} bytes, more than PATH_MAX (${PATH_MAX})`, {
      where,
      hint: 'no file system holds such a path (Linux refuses one longer than PATH_MAX): the archive is corrupt or crafted',
    });
  }
  try {
    return cleanEntryPath(joined, where);
  } catch (cause) {
    throw new ProvenantError('UNSAFE_PATH', `${shown} points outside the archive`, {
      where,
      cause,
      hint: 'the archive may be crafted to reach outside its folder through links; do not unpack it',
    });
  }
}
