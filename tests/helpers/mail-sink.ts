/** A real SMTP server for tests (smtp-server, parsed by mailparser): keeps every message it receives. */
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** One message a {@link MailSink} received. */
export interface ReceivedEmail {
  from: string;
  to: string[];
  /** Parsed by mailparser. */
  message: ParsedMail;
}

/** A real SMTP server on 127.0.0.1, no auth, that keeps every message (or refuses with 550 while `refuse` is set). */
export class MailSink {
  readonly received: ReceivedEmail[] = [];
  refuse = false;
  port = 0;
  readonly server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData: (stream, session, callback) => {
      simpleParser(stream).then(
        (message) => {
          if (this.refuse) {
            callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }));
            return;
          }
          this.received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), message });
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

