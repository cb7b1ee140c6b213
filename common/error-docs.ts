/**
 * Generates `docs/errors.md` from the error catalogue (common/error-codes.ts): one markdown table of
 * every code with its class, HTTP status and description. `common/error-docs.test.ts` fails when the
 * committed file differs from what this produces.
 *
 * @example
 * ```sh
 * npm run docs:errors   # tsc -p tsconfig.build.json && node dist/common/error-docs.js: rewrites docs/errors.md
 * ```
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ERROR_CATALOGUE, type ErrorCode, type ErrorKind } from './error-codes';

/** `docs/errors.md` of this checkout (from `dist/common/`, two levels up). */
export const ERROR_DOCS_FILE = path.resolve(__dirname, '..', '..', 'docs', 'errors.md');

/** How each kind is named in the table. */
const CLASS_OF: Record<ErrorKind, string> = {
  user: 'user-fixable',
  transient: 'transient',
  internal: 'internal',
};

/** Escapes what would break a markdown table cell. */
const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The whole text of `docs/errors.md`: a short introduction and one row per code, alphabetically. */
export function renderErrorDocs(): string {
  const codes = (Object.keys(ERROR_CATALOGUE) as ErrorCode[]).sort();
  const rows = codes.map((code) => {
    const { kind, status, description } = ERROR_CATALOGUE[code];
    return `| \`${code}\` | ${CLASS_OF[kind]} | ${status} | ${cell(description)} |`;
  });
  return [
    '# Error codes',
    '',
    '<!-- Generated from common/error-codes.ts by `npm run docs:errors`; do not edit by hand. -->',
    '',
    'Every error Sluice reports carries a stable `code`: in a run\'s `metadata.error.code`, in a gateway error',
    'body (`{ "error": { "code", "message", "details" } }`), in the CLI\'s `--json` output, and as the `type` of',
    'the Temporal failure of a failed activity. The class says whether retrying can help:',
    '',
    '- **user-fixable**: something the user must change (spec, config, request, data). Never retried; a run',
    '  ends FAILED. Thrown as `UserError` or one of its subclasses (`ConfigError`, `FlowSpecError`,',
    '  `SourceError`, `TransformError`, `TargetError`, `InvalidRequestError`, …).',
    '- **transient**: a service did not answer or was not ready; the same request can succeed later.',
    '  Thrown as `TransientError`; retried.',
    '- **internal**: an unexpected failure, or a retryable one that outlived its retries; a run ends CRASHED.',
    '',
    'HTTP status is what the gateway answers when a request fails with the code. User-fixable codes that',
    'no request can cause (a run\'s, the CLI\'s) keep the gateway\'s rule for them: 400 for `INVALID_*`, else 500.',
    '',
    '| code | class | HTTP status | description |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

/** Writes {@link renderErrorDocs} to `file`. */
export function writeErrorDocs(file: string = ERROR_DOCS_FILE): void {
  writeFileSync(file, renderErrorDocs());
}

if (require.main === module) {
  writeErrorDocs();
  process.stdout.write(`wrote ${path.relative(process.cwd(), ERROR_DOCS_FILE)}\n`);
}
