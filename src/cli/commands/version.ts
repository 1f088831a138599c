/** `provenant version`: the tool's version, the Node running it, and the pinned compressor every layer digest depends on. */
import { LIBDEFLATE_WASM_SHA256 } from '../../archive/libdeflate.ts';
import { VERSION } from '../../version.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, positional, writeJson } from '../options.ts';

export const spec: CommandSpec = {
  summary: 'print the version, the Node running it and the pinned compressor',
  usage: 'provenant version [--format json]',
  prints: 'result',
  flags: { format: FORMAT_FLAG },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  positional(args, 0, spec.usage);
  const format = formatOf(args);
  // The wasm is not loaded here (that costs a third of a second): a build checks it against this
  // digest before it compresses anything.
  const info = {
    version: VERSION,
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    compressor: { name: 'libdeflate 0.1.0 (WebAssembly)', sha256: LIBDEFLATE_WASM_SHA256 },
  };
  if (format === 'json') return writeJson(io, info);
  io.stdout.write(
    `provenant ${VERSION}\nnode ${info.node} (${info.platform})\ncompressor ${info.compressor.name} sha256:${LIBDEFLATE_WASM_SHA256}\n`,
  );
}
