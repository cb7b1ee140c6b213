/**
 * Date and datetime `format` strings, checked when a flow is published: a format Polars (chrono)
 * cannot use would otherwise reject every row of every run. Polars itself is the judge — the format
 * is applied to a timezone-naive datetime — so Sluice keeps no strftime grammar of its own.
 *
 * @example
 * ```ts
 * dateFormatProblem('%d/%m/%Y'); // undefined
 * dateFormatProblem('%Y-%Q');    // 'has "%Q", which is not a strftime specifier …'
 * ```
 */
import pl from 'nodejs-polars';

/** One strftime directive: `%`, optional flag / width / `:` / `.`, and a letter (or a lone `%` at the end). */
const DIRECTIVE = /%[-_0^#]?[:.\d]*[A-Za-z%+]|%$/g;

let sample: pl.DataFrame | undefined;

/** True when Polars can format a timezone-naive datetime with `format`. */
function polarsAccepts(format: string): boolean {
  sample ??= pl.DataFrame({ v: [0] }).select(pl.col('v').cast(pl.Datetime('us')));
  try {
    sample.select(pl.col('v').dt.strftime(format));
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a `format` of a date or datetime field.
 * @returns undefined when Polars accepts it, else what is wrong, naming the first bad specifier,
 *   in words that fit after `format "…" ` in an issue.
 */
export function dateFormatProblem(format: string): string | undefined {
  if (polarsAccepts(format)) return undefined;
  const bad = (format.match(DIRECTIVE) ?? []).find((directive) => !polarsAccepts(directive));
  if (bad === '%') return 'ends with a lone "%"; write "%%" for a literal percent sign';
  if (bad !== undefined && /z$/.test(bad)) {
    return `has "${bad}", a zone offset, which Sluice's dates and datetimes (without a zone) cannot hold`;
  }
  const what = bad === undefined ? 'is not a valid strftime format' : `has "${bad}", which is not a strftime specifier`;
  return `${what}; use chrono's specifiers, e.g. %Y-%m-%d, %d/%m/%Y, %b %d %Y, %Y-%m-%dT%H:%M:%S`;
}
