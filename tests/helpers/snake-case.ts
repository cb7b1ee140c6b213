/**
 * The keys of a JSON value that are not snake_case (`lower_snake`), with their paths, for tests of Sluice's one
 * JSON shape. Values under keys that hold user data (`run_metadata`: the run's free-form JSON; `by_rule`: rule
 * keys named after fields; `workers`: `host:pid`) are not walked.
 */
const SNAKE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
const USER_DATA = new Set(['run_metadata', 'by_rule', 'workers']);

export function nonSnakeKeys(value: unknown, at = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => nonSnakeKeys(item, `${at}[${i}]`));
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => [
    ...(SNAKE.test(key) ? [] : [`${at}.${key}`]),
    ...(USER_DATA.has(key) ? [] : nonSnakeKeys(child, `${at}.${key}`)),
  ]);
}
