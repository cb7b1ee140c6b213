/**
 * `sluice mail list|show`: the messages the dev mail sink of `sluice dev` kept (local-stack/mail-sink.ts), one
 * `.eml` file each under `<state dir>/mail/`. Nothing is sent anywhere: in dev, the config's loopback SMTP
 * connector (`127.0.0.1:1025` in the scaffold) is served by the sink.
 *
 * ```sh
 * sluice mail list                # id, date, to, subject, attachments; newest last
 * sluice mail show 3              # headers and the text body
 * sluice mail show 3 --raw > m.eml
 * ```
 */
import path from 'node:path';
import type { Command } from 'commander';
import { listMail, readMail } from '../local-stack/mail-sink';
import { configFrom } from './cli-config';

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Adds `sluice mail list|show` to a program. */
export function addMailCommands(program: Command): void {
  const mail = program.command('mail').description("the dev mail sink's messages (.sluice/mail/): what the pipelines of `sluice dev` emailed");

  mail
    .command('list')
    .description('list the messages the dev mail sink kept, oldest first')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const dir = path.join(configFrom(command, { staleStack: 'ignore' }).stateDir, 'mail');
      const messages = await listMail(dir);
      if (options.json) return print(JSON.stringify(messages));
      if (messages.length === 0) return print(`no messages in ${path.relative(process.cwd(), dir) || dir}/ (sluice dev keeps the emails of the dev config's local SMTP connector there)`);
      print(`${'id'.padStart(4)}  ${'date'.padEnd(20)}  ${'to'.padEnd(28)}  subject`);
      for (const m of messages) {
        const attached = m.attachments.length > 0 ? `  [${m.attachments.length} attachment${m.attachments.length === 1 ? '' : 's'}]` : '';
        print(`${String(m.id).padStart(4)}  ${m.date.slice(0, 19).replace('T', ' ').padEnd(20)}  ${m.to.join(', ').padEnd(28)}  ${m.subject}${attached}`);
      }
    });

  mail
    .command('show')
    .description('show one message: its headers, attachments and text body')
    .argument('<id>', 'the message id, as `sluice mail list` shows it')
    .option('--raw', 'print the message as received (.eml)')
    .option('--json', 'print a JSON object')
    .action(async (id: string, options: { raw?: boolean; json?: boolean }, command: Command) => {
      const dir = path.join(configFrom(command, { staleStack: 'ignore' }).stateDir, 'mail');
      const message = await readMail(dir, id);
      if (options.raw) return void process.stdout.write(message.raw);
      if (options.json) return print(JSON.stringify({ ...message.summary, text: message.text }));
      const s = message.summary;
      print(`message ${s.id}  (${s.file})`);
      print(`  date:    ${s.date}`);
      print(`  from:    ${s.from}`);
      print(`  to:      ${s.to.join(', ')}`);
      print(`  subject: ${s.subject}`);
      if (s.attachments.length > 0) print(`  attached: ${s.attachments.join(', ')}`);
      print('');
      process.stdout.write(message.text.endsWith('\n') ? message.text : `${message.text}\n`);
    });
}
