/**
 * How the flow spec (flows/flow-spec.ts) and the pipeline spec (pipelines/pipeline-spec.ts) word their problems:
 * a YAML syntax error as `line L, column C: message`, a validation problem at a path as `jobs[0].source_path`.
 *
 * @example
 * ```ts
 * formatIssuePath(['fields', 'amount', 'in', 2]);            // 'fields.amount.in[2]'
 * yamlSyntaxIssues(parseDocument('a: [1', { prettyErrors: true }));
 * // ['line 1, column 6: Flow sequence in block collection must be sufficiently indented and end with a ]']
 * ```
 */
import type { Document } from 'yaml';

/** A zod issue path as people write it: `fields.amount.in[2]`; `''` for the root. */
export function formatIssuePath(at: readonly PropertyKey[]): string {
  return at.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`)).join('');
}

/**
 * The syntax errors of a document parsed with `prettyErrors: true`, one line each: `line L, column C: message`,
 * without the code frame and the position `yaml` appends to its message.
 */
export function yamlSyntaxIssues(doc: Document): string[] {
  return doc.errors.map((e) => {
    const pos = e.linePos?.[0];
    const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    return `${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${message}`;
  });
}
