/**
 * `sluice init <dir>`: scaffold a project (config with dev/test/prod, an example flow with a custom
 * map, a scheduled pipeline, today's example data, and the folders). Never overwrites: exit 2 naming
 * the files that exist.
 *
 * ```sh
 * sluice init accounts-etl && cd accounts-etl
 * ```
 */
import type { Command } from 'commander';
import { scaffoldProject } from '../local-stack/scaffold';

/** Adds `sluice init` to a program. */
export function addInitCommand(program: Command): void {
  program
    .command('init')
    .description('scaffold a project: sluice.config.yaml (dev/test/prod), flows/, maps/, pipelines/, data/{import,export,backup,errors}, logs/ and a working example')
    .argument('<dir>', 'the project folder (created if missing; must not already hold these files)')
    .option('--json', 'print a JSON object')
    .action((dir: string, options: { json?: boolean }) => {
      const result = scaffoldProject(dir);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      process.stdout.write(`created a Sluice project in ${result.dir}:\n${result.created.map((f) => `  ${f}`).join('\n')}\n\n`);
      process.stdout.write(
        [
          'next:',
          `  cd ${dir}`,
          '  sluice dev                                  # in another terminal: the local stack',
          '  sluice test-connections                     # check every connector',
          '  sluice flows publish flows/accounts.yaml',
          '  sluice pipeline run daily --wait',
          '  sluice mail list                            # the error email, kept by sluice dev',
          '  sluice schedules apply                      # daily at 06:00 Europe/Paris',
          '',
        ].join('\n'),
      );
    });
}
