/**
 * Plain-text tables for the CLI: a header row and aligned columns separated by two spaces, the last column
 * unpadded (no trailing blanks). Numbers are right-aligned when asked.
 *
 * ```text
 * RUN            STATUS     READ
 * movies-v1-3f…  SUCCEEDED  3201
 * ```
 */

/** How one column is aligned. */
export type Align = 'left' | 'right';

/**
 * Formats `rows` under `header`; every row has as many cells as the header.
 * @param align per column. @default every column left-aligned
 * @returns the lines joined with `\n`, with a final newline.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (align[i] === 'right' ? cell.padStart(widths[i]!) : i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ');
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
