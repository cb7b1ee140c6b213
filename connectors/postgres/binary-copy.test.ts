/**
 * Unit: the binary COPY encoder's memory handling (binary-copy.ts): pieces' memory is reused only when given back,
 * and the Arrow hand-over still works when the temp folder cannot be written. The encoded bytes against a real
 * server: tests/integration/binary-copy.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { encodeBinaryCopy, PieceBuffers, type BinaryKind } from './binary-copy';

const KINDS: BinaryKind[] = ['int8', 'text', 'date'];

/** 100,000 rows of the three kinds, NULLs in each column: pieces of 32,768 rows are ~1.5 MB, above the 256 KiB reused. */
function frame(): pl.DataFrame {
  const n = Array.from({ length: 100_000 }, (_, i) => i);
  return pl.DataFrame({
    id: pl.Series('id', n.map((i) => (i % 7 === 0 ? null : i * 1_000_003)), pl.Int64),
    name: pl.Series('name', n.map((i) => (i % 5 === 0 ? null : `name ${i} ` + 'x'.repeat(i % 30))), pl.Utf8),
    day: pl.Series('day', n.map((i) => (i % 3 === 0 ? null : new Date(Date.UTC(1990, 0, 1 + i)))), pl.Date),
  });
}

async function encoded(f: pl.DataFrame, buffers?: PieceBuffers): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of encodeBinaryCopy(f, KINDS, buffers)) pieces.push(Buffer.from(piece));
  return Buffer.concat(pieces);
}

describe('PieceBuffers', () => {
  it('reuses the memory of a piece given back, and only then', () => {
    const buffers = new PieceBuffers();
    const first = buffers.take(2 << 20);
    const second = buffers.take(2 << 20);
    assert.notEqual(first.buffer, second.buffer, 'a piece not given back is never handed out again');
    buffers.give(first);
    const third = buffers.take(1.5 * (1 << 20));
    assert.equal(third.buffer, first.buffer, 'the memory of a piece given back serves the next one');
    assert.equal(third.length, 1.5 * (1 << 20));
    assert.notEqual(buffers.take(2 << 20).buffer, first.buffer, 'given back once, handed out once');
  });

  it('never reuses pieces under 256 KiB, nor buffers it did not hand out', () => {
    const buffers = new PieceBuffers();
    const small = buffers.take(64 * 1024);
    buffers.give(small);
    assert.notEqual(buffers.take(64 * 1024).buffer, small.buffer);
    const foreign = Buffer.allocUnsafeSlow(4 << 20);
    buffers.give(foreign);
    assert.notEqual(buffers.take(2 << 20).buffer, foreign.buffer);
  });

  it('encodes the same bytes with and without reused memory', async () => {
    const f = frame();
    const buffers = new PieceBuffers();
    // Each piece is copied before it is given back, so the next piece may reuse its memory.
    const pieces: Buffer[] = [];
    const memory = new Set<ArrayBufferLike>();
    for await (const piece of encodeBinaryCopy(f, KINDS, buffers)) {
      pieces.push(Buffer.from(piece));
      memory.add(piece.buffer);
      buffers.give(piece);
    }
    assert.ok(pieces.length >= 4 && memory.size < pieces.length, `${pieces.length} pieces in ${memory.size} buffers: memory was reused`);
    assert.deepEqual(Buffer.concat(pieces), await encoded(f));
  });
});

describe('the Arrow hand-over', () => {
  it('falls back to the in-memory hand-over when the temp folder cannot be written, with the same bytes', async () => {
    const module = path.join(__dirname, 'binary-copy.js');
    // A child process, so that its temp folder (TMPDIR, read on first use) is one that does not exist.
    const script = `
      const pl = require('nodejs-polars');
      const { encodeBinaryCopy } = require(${JSON.stringify(module)});
      const f = pl.DataFrame({ id: pl.Series('id', [1, null, 3], pl.Int64), name: pl.Series('name', ['a', 'bé', null], pl.Utf8),
        day: pl.Series('day', [new Date(Date.UTC(2024, 1, 29)), null, new Date(Date.UTC(1969, 6, 20))], pl.Date) });
      (async () => { const parts = []; for await (const p of encodeBinaryCopy(f, ['int8', 'text', 'date'])) parts.push(Buffer.from(p));
        process.stdout.write(Buffer.concat(parts).toString('hex')); })();`;
    const child = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, TMPDIR: '/nonexistent/sluice-tmp' }, encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    const expected = pl.DataFrame({
      id: pl.Series('id', [1, null, 3], pl.Int64),
      name: pl.Series('name', ['a', 'bé', null], pl.Utf8),
      day: pl.Series('day', [new Date(Date.UTC(2024, 1, 29)), null, new Date(Date.UTC(1969, 6, 20))], pl.Date),
    });
    assert.equal(child.stdout, (await encoded(expected)).toString('hex'));
    assert.ok(child.stdout.length > 0);
  });
});
