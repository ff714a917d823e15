/**
 * Runs the command line in-process (src/cli/program.ts `runCli`) with its stdout and stderr
 * collected, as a user's shell would see them, and its exit code.
 */
import { PassThrough } from 'node:stream';
import { runCli, type CliIo } from '../../src/cli/program.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[], extra: Partial<CliIo> = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runCli(args, { stdout, stderr, ...extra });
  return { code, stdout: out, stderr: err };
}

/** `cli` with `--json`, the document parsed. */
// The caller names the document's type (the command's report interface); nothing checks the JSON against it.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export async function cliJson<T>(args: string[]): Promise<CliResult & { doc: T }> {
  const r = await cli([...args, '--json']);
  let doc: T;
  try {
    doc = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
  }
  return { ...r, doc };
}
