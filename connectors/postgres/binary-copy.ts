/**
 * PostgreSQL's binary COPY format for mapped frames: what the postgres target feeds its one COPY stream
 * when every column it writes has the type Sluice would have created (docs/decisions.md, "Binary COPY, the
 * steady-state table check, small runs loaded locally").
 *
 * Format (PostgreSQL documentation, "COPY", "Binary Format"): a 19-byte header (`PGCOPY\n\377\r\n\0`,
 * a 32-bit flags field, a 32-bit header-extension length), then one tuple per row — a 16-bit field count
 * and, per field, a 32-bit byte length (-1 for NULL) followed by the value in the type's `send` format,
 * all in network byte order — and a 16-bit -1 trailer.
 *
 * The encoding is columnar and allocates no JS value per cell: Polars first turns a timestamp into the
 * integer the server wants (microseconds since 2000-01-01; a date is shifted to days since then while encoding),
 * hands the frame over as Arrow IPC, and the Arrow buffers (apache-arrow, read without copying) are
 * interleaved row by row into one `Buffer` per slice of rows. Slices keep the event loop free for
 * heartbeats, queries and cancellation.
 *
 * ```ts
 * const kinds = binaryKinds(spec, lineage);            // ['int8', 'text', …]
 * stream.write(BINARY_COPY_HEADER);
 * for await (const piece of encodeBinaryCopy(frame, kinds)) stream.write(piece);
 * stream.end(BINARY_COPY_TRAILER);
 * ```
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { DataType, DateUnit, tableFromIPC, type Data } from 'apache-arrow';
import pl, { type DataType as PolarsType } from 'nodejs-polars';
import type { FieldType, FlowSpec } from '../../flows/flow-spec';

/** A column's PostgreSQL type, by its `pg_type.typname` (what `information_schema.columns.udt_name` shows). */
export type BinaryKind = 'text' | 'jsonb' | 'int4' | 'int8' | 'float8' | 'bool' | 'date' | 'timestamp';

/** The type Sluice creates for each field type (transform/field-types.ts `POSTGRES_TYPES`), as a `udt_name`. */
export const BINARY_KINDS: Record<FieldType, BinaryKind> = {
  string: 'text',
  int32: 'int4',
  int64: 'int8',
  float64: 'float8',
  bool: 'bool',
  date: 'date',
  datetime: 'timestamp',
  json: 'jsonb',
};

/** `udt_name`s whose binary input takes what {@link encodeBinaryCopy} writes for a kind (varchar reads text's format). */
const ACCEPTED_UDT: Record<BinaryKind, readonly string[]> = {
  text: ['text', 'varchar'],
  jsonb: ['jsonb'],
  int4: ['int4'],
  int8: ['int8'],
  float8: ['float8'],
  bool: ['bool'],
  date: ['date'],
  timestamp: ['timestamp'],
};

/** The header of a binary COPY stream: signature, flags 0, no header extension (19 bytes). */
export const BINARY_COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** The trailer of a binary COPY stream: a field count of -1. */
export const BINARY_COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** Days from 1970-01-01 (Polars' Date epoch) to 2000-01-01 (PostgreSQL's). */
const PG_EPOCH_DAYS = 10_957;
/** Microseconds from 1970-01-01 to 2000-01-01. */
const PG_EPOCH_MICROS = 946_684_800_000_000;
/** Rows per encoded piece: ~1–3 MB and a few ms of JS per piece for the bench's rows. */
const SLICE_ROWS = 32_768;

/**
 * The kinds a load of `spec` writes, in COPY column order: the flow's fields, then the two lineage columns.
 */
export function binaryKinds(spec: FlowSpec, lineage: boolean): BinaryKind[] {
  return [...spec.fields.map((f) => BINARY_KINDS[f.type]), ...(lineage ? (['text', 'int8'] as const) : [])];
}

/**
 * True when every column has a type whose binary input reads what Sluice sends for it. A table the user
 * made with other types (`numeric`, `timestamptz`, `varchar` for a date…) is loaded as CSV instead, where
 * PostgreSQL converts the text as it always did.
 * @param udtNames each COPY column's `udt_name`, in the order of `kinds` (undefined: not known).
 */
export function binaryAccepted(kinds: readonly BinaryKind[], udtNames: readonly (string | undefined)[]): boolean {
  return kinds.length === udtNames.length && kinds.every((kind, i) => udtNames[i] !== undefined && ACCEPTED_UDT[kind].includes(udtNames[i]!));
}

/**
 * The Polars type each kind is handed over in (a date as Polars' Date: days since 1970, shifted while encoding),
 * and the `variant` names a frame's dtype has when it already is that type.
 */
const HANDOVER: Record<Exclude<BinaryKind, 'timestamp'>, { type: () => PolarsType; variants: readonly string[] }> = {
  text: { type: () => pl.Utf8, variants: ['Utf8', 'String'] },
  jsonb: { type: () => pl.Utf8, variants: ['Utf8', 'String'] },
  int4: { type: () => pl.Int32, variants: ['Int32'] },
  int8: { type: () => pl.Int64, variants: ['Int64'] },
  float8: { type: () => pl.Float64, variants: ['Float64'] },
  bool: { type: () => pl.Bool, variants: ['Bool'] },
  date: { type: () => pl.Date, variants: ['Date'] },
};

/**
 * What Polars turns a column into before the Arrow hand-over, or null when it already is that: a timestamp
 * becomes microseconds since 2000-01-01 (64-bit arithmetic is Polars' job, not JS's); other kinds are cast
 * only when the frame holds another type.
 */
function handoverExpr(column: string, dtype: PolarsType, kind: BinaryKind): pl.Expr | null {
  // Only what needs changing becomes an expression, made once per column and kind: a nodejs-polars expression
  // costs ~1 ms of JS to make.
  if (kind !== 'timestamp' && HANDOVER[kind].variants.includes(dtype.variant)) return null;
  const key = `${kind}\u0000${column}`;
  let expr = HANDOVER_EXPRS.get(key);
  if (!expr) {
    expr = (
      kind === 'timestamp'
        ? pl.col(column).cast(pl.Datetime('us')).cast(pl.Int64).sub(pl.lit(PG_EPOCH_MICROS).cast(pl.Int64)).cast(pl.Int64)
        : pl.col(column).cast(HANDOVER[kind].type())
    ).alias(column);
    if (HANDOVER_EXPRS.size >= 1_000) HANDOVER_EXPRS.clear();
    HANDOVER_EXPRS.set(key, expr);
  }
  return expr;
}
const HANDOVER_EXPRS = new Map<string, pl.Expr>();

/** One Arrow column, read in place: its buffers as typed views. */
interface Column {
  kind: BinaryKind;
  /** 'view': Utf8View (16-byte views); 'offsets': Utf8 or LargeUtf8; 'fixed': the numbers and booleans. */
  layout: 'view' | 'offsets32' | 'offsets64' | 'fixed';
  offset: number;
  nulls: Uint8Array | null;
  bytes: Uint8Array;
  i32: Int32Array;
  f64: Float64Array | null;
  offsets32: Int32Array | null;
  offsets64: BigInt64Array | null;
  variadic: Buffer[];
}

function columnOf(data: Data, kind: BinaryKind): Column {
  const type = data.type;
  const values = data.values as ArrayBufferView;
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const aligned = values.byteOffset % 8 === 0 ? values : new Uint8Array(bytes);
  const buffer = (aligned as ArrayBufferView).buffer;
  const start = (aligned as ArrayBufferView).byteOffset;
  const column: Column = {
    kind,
    layout: 'fixed',
    offset: data.offset,
    nulls: data.nullCount > 0 && data.nullBitmap ? data.nullBitmap : null,
    bytes: new Uint8Array(buffer, start, values.byteLength),
    i32: new Int32Array(buffer, start, values.byteLength >> 2),
    f64: kind === 'float8' ? new Float64Array(buffer, start, values.byteLength >> 3) : null,
    offsets32: null,
    offsets64: null,
    variadic: [],
  };
  if (kind === 'text' || kind === 'jsonb') {
    if (DataType.isUtf8View(type)) {
      column.layout = 'view';
      column.variadic = ((data as unknown as { variadicBuffers?: Uint8Array[] }).variadicBuffers ?? []).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    } else if (DataType.isUtf8(type)) {
      column.layout = 'offsets32';
      column.offsets32 = data.valueOffsets as Int32Array;
    } else if (DataType.isLargeUtf8(type)) {
      column.layout = 'offsets64';
      column.offsets64 = data.valueOffsets as unknown as BigInt64Array;
    } else {
      throw new Error(`binary COPY: column of kind ${kind} arrived as Arrow ${String(type)}`);
    }
    column.bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  } else if (!(DataType.isInt(type) || DataType.isFloat(type) || DataType.isBool(type) || (DataType.isDate(type) && type.unit === DateUnit.DAY))) {
    throw new Error(`binary COPY: column of kind ${kind} arrived as Arrow ${String(type)}`);
  }
  return column;
}

const FIXED_BYTES: Partial<Record<BinaryKind, number>> = { int4: 4, int8: 8, float8: 8, bool: 1, date: 4, timestamp: 8 };

/** Byte length of text value `i` of a text column. */
function textLength(c: Column, i: number): number {
  if (c.layout === 'view') return c.i32[i << 2]!;
  if (c.layout === 'offsets32') return c.offsets32![i + 1]! - c.offsets32![i]!;
  return Number(c.offsets64![i + 1]! - c.offsets64![i]!);
}

/** Copies text value `i` (`length` bytes) of a text column into `out` at `p`. */
function copyText(c: Column, i: number, length: number, out: Buffer, p: number): void {
  let source = c.bytes;
  let start: number;
  if (c.layout === 'view') {
    if (length <= 12) start = (i << 4) + 4;
    else {
      source = c.variadic[c.i32[(i << 2) + 2]!]!;
      start = c.i32[(i << 2) + 3]!;
    }
  } else start = c.layout === 'offsets32' ? c.offsets32![i]! : Number(c.offsets64![i]!);
  // A byte loop beats a subarray (one object per value) for the short values most columns hold.
  if (length <= 64) for (let j = 0; j < length; j++) out[p + j] = source[start + j]!;
  else out.set(source.subarray(start, start + length), p);
}

const isNull = (c: Column, i: number): boolean => c.nulls !== null && ((c.nulls[i >> 3]! >> (i & 7)) & 1) === 0;

/**
 * Pieces smaller than this (256 KiB) are never reused: well above net.Socket's high-water mark (16 KiB, 64 KiB from
 * Node 22). A held CSV source comes in Polars chunks of ~10,000 rows, whose pieces (~0.9 MB for the bench) must
 * still be reused: at 1 MiB they were not, and cost a full collection every few chunks.
 */
const REUSE_MIN_BYTES = 256 * 1024;

/**
 * The memory of one COPY's encoded pieces, reused from piece to piece. Every new `Buffer` is "external memory" to
 * V8, and each ~64 MB of it forces a full garbage collection of the worker's heap: fresh pieces for 1,000,000 bench
 * rows (~90 MB) cost a dozen of them (measured with `--trace-gc`). A piece may be given back once its write
 * callback has run: pg-copy-streams calls it when the socket took the bytes below its high-water mark, or on
 * `drain`; a piece of at least {@link REUSE_MIN_BYTES} is then no longer queued in the socket, so its memory is
 * free. Smaller pieces are allocated as before and never given back. One instance per COPY stream, and one for
 * the Arrow hand-over of every frame (given back when its encoding ends).
 */
export class PieceBuffers {
  private readonly free: Buffer[] = [];
  private readonly owned = new WeakSet<ArrayBufferLike>();

  /** A buffer of exactly `size` bytes, reused when a free one is large enough. */
  take(size: number): Buffer {
    if (size < REUSE_MIN_BYTES) return Buffer.allocUnsafe(size);
    const at = this.free.findIndex((b) => b.length >= size);
    const slab = at >= 0 ? this.free.splice(at, 1)[0]! : Buffer.allocUnsafeSlow(Math.ceil(size * 1.25));
    this.owned.add(slab.buffer);
    return slab.subarray(0, size);
  }

  /** Gives back a piece from {@link take} whose write has called back; other buffers are ignored. */
  give(piece: Buffer): void {
    if (!this.owned.has(piece.buffer) || this.free.length >= 4) return;
    this.free.push(Buffer.from(piece.buffer));
  }
}

/**
 * Rows `from`..`to` (exclusive) of one record batch as binary COPY tuples (no header, no trailer).
 * Column by column, not cell by cell: one pass sums each row's size, then each column writes its values at
 * every row's cursor, in a loop of its own type (no branch on the type per cell).
 */
function encodeRows(columns: Column[], from: number, to: number, buffers: PieceBuffers | undefined): Buffer {
  const rows = to - from;
  const fields = columns.length;
  // Each row's size, then (in place) where each row's next value goes.
  const cursor = new Int32Array(rows).fill(2 + 4 * fields);
  for (const c of columns) {
    const fixed = FIXED_BYTES[c.kind];
    const extra = c.kind === 'jsonb' ? 1 : 0;
    for (let r = 0; r < rows; r++) {
      const i = c.offset + from + r;
      if (isNull(c, i)) continue;
      cursor[r] += fixed ?? textLength(c, i) + extra;
    }
  }
  let size = 0;
  for (let r = 0; r < rows; r++) {
    const rowSize = cursor[r]!;
    cursor[r] = size;
    size += rowSize;
  }
  const out = buffers ? buffers.take(size) : Buffer.allocUnsafe(size);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let r = 0; r < rows; r++) {
    view.setInt16(cursor[r]!, fields);
    cursor[r] += 2;
  }
  for (const c of columns) {
    const base = c.offset + from;
    const { i32, nulls } = c;
    // One loop per type; a NULL is a length of -1 and no bytes.
    switch (c.kind) {
      case 'int4':
      case 'date': {
        const shift = c.kind === 'date' ? PG_EPOCH_DAYS : 0;
        for (let r = 0; r < rows; r++) {
          const i = base + r;
          const p = cursor[r]!;
          if (nulls !== null && ((nulls[i >> 3]! >> (i & 7)) & 1) === 0) {
            view.setInt32(p, -1);
            cursor[r] = p + 4;
          } else {
            view.setInt32(p, 4);
            view.setInt32(p + 4, i32[i]! - shift);
            cursor[r] = p + 8;
          }
        }
        break;
      }
      case 'int8':
      case 'timestamp':
        for (let r = 0; r < rows; r++) {
          const i = base + r;
          const p = cursor[r]!;
          if (nulls !== null && ((nulls[i >> 3]! >> (i & 7)) & 1) === 0) {
            view.setInt32(p, -1);
            cursor[r] = p + 4;
          } else {
            // Little-endian host: the high word is the second Int32 of the pair.
            view.setInt32(p, 8);
            view.setInt32(p + 4, i32[2 * i + 1]!);
            view.setInt32(p + 8, i32[2 * i]!);
            cursor[r] = p + 12;
          }
        }
        break;
      case 'float8': {
        const f64 = c.f64!;
        for (let r = 0; r < rows; r++) {
          const i = base + r;
          const p = cursor[r]!;
          if (nulls !== null && ((nulls[i >> 3]! >> (i & 7)) & 1) === 0) {
            view.setInt32(p, -1);
            cursor[r] = p + 4;
          } else {
            view.setInt32(p, 8);
            view.setFloat64(p + 4, f64[i]!);
            cursor[r] = p + 12;
          }
        }
        break;
      }
      case 'bool': {
        const bits = c.bytes;
        for (let r = 0; r < rows; r++) {
          const i = base + r;
          const p = cursor[r]!;
          if (nulls !== null && ((nulls[i >> 3]! >> (i & 7)) & 1) === 0) {
            view.setInt32(p, -1);
            cursor[r] = p + 4;
          } else {
            view.setInt32(p, 1);
            out[p + 4] = (bits[i >> 3]! >> (i & 7)) & 1;
            cursor[r] = p + 5;
          }
        }
        break;
      }
      case 'text':
      case 'jsonb': {
        // jsonb's binary format: a version byte (1), then the JSON text.
        const json = c.kind === 'jsonb' ? 1 : 0;
        for (let r = 0; r < rows; r++) {
          const i = base + r;
          const p = cursor[r]!;
          if (nulls !== null && ((nulls[i >> 3]! >> (i & 7)) & 1) === 0) {
            view.setInt32(p, -1);
            cursor[r] = p + 4;
          } else {
            const length = textLength(c, i);
            view.setInt32(p, length + json);
            if (json) out[p + 4] = 1;
            copyText(c, i, length, out, p + 4 + json);
            cursor[r] = p + 4 + json + length;
          }
        }
        break;
      }
    }
  }
  if (rows > 0 && cursor[rows - 1] !== size) throw new Error(`binary COPY: encoded ${cursor[rows - 1]} bytes, expected ${size}`);
  return out;
}

/** This process's folder for Arrow hand-over files (made on first use, under the OS temp folder). */
let handoverDir: string | undefined;
let handoverFiles = 0;
/**
 * The memory of earlier frames' Arrow IPC, reused for the next one (the same pool as a COPY's pieces): every
 * ~64 MB of new Buffers costs a full garbage collection of the worker's heap.
 */
const ipcBuffers = new PieceBuffers();

/**
 * `frame` as Arrow IPC bytes, written by Polars to a temporary file and read back into a reused buffer.
 * nodejs-polars' in-memory `writeIPC()` hands its output to JS through a Writable and concatenates it, which cost
 * 4× the CPU and most of the worker's garbage collection (measured on a 250,000-row mapped chunk of the bench:
 * 151 against 34 ms of CPU). The file (as large as the frame, ~22 MB for that chunk) is deleted before this
 * returns; when it cannot be written (a full or read-only temp folder), the in-memory hand-over is used instead.
 * Give the bytes back to `ipcBuffers` once nothing reads them any more.
 */
function arrowIpc(frame: pl.DataFrame): Buffer {
  let file: string | undefined;
  try {
    handoverDir ??= mkdtempSync(path.join(tmpdir(), 'sluice-copy-'));
    file = path.join(handoverDir, `${handoverFiles++}.arrow`);
    frame.writeIPC(file);
  } catch {
    // No room or no right to write in the temp folder: the slower in-memory hand-over still works.
    if (file) rmSync(file, { force: true });
    return frame.writeIPC();
  }
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const buffer = ipcBuffers.take(size);
      let read = 0;
      while (read < size) {
        const n = readSync(fd, buffer, read, size - read, read);
        if (n === 0) throw new Error(`binary COPY: ${file} ended after ${read} of ${size} bytes`);
        read += n;
      }
      return buffer;
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * The tuples of `frame` in binary COPY format, in pieces of up to 32,768 rows, yielding to the event loop
 * between pieces. `frame`'s columns are the COPY's columns, in order; `kinds` gives each one's type.
 * @param buffers where the pieces' memory comes from: the caller gives each piece back once its write has called
 *   back, and must not read it after that. Without it, every piece is a new Buffer.
 * @throws Error when Polars hands a column over in an Arrow type the encoder does not know (a bug, not input).
 */
export async function* encodeBinaryCopy(frame: pl.DataFrame, kinds: readonly BinaryKind[], buffers?: PieceBuffers): AsyncGenerator<Buffer> {
  if (frame.width !== kinds.length) throw new Error(`binary COPY: ${frame.width} columns for ${kinds.length} kinds`);
  const dtypes = frame.dtypes;
  const changes = frame.columns.flatMap((name, i) => handoverExpr(name, dtypes[i]!, kinds[i]!) ?? []);
  const prepared = changes.length > 0 ? frame.withColumns(...changes) : frame;
  const ipc = arrowIpc(prepared);
  try {
    const table = tableFromIPC(ipc);
    // The hand-over is synchronous (~10–40 ms per 250,000 rows): let the event loop run before encoding.
    await yieldToLoop();
    for (const batch of table.batches) {
      const columns = batch.data.children.map((data, i) => columnOf(data, kinds[i]!));
      for (let from = 0; from < batch.numRows; from += SLICE_ROWS) {
        yield encodeRows(columns, from, Math.min(batch.numRows, from + SLICE_ROWS), buffers);
        await yieldToLoop();
      }
    }
  } finally {
    // The pieces are copies: nothing reads the Arrow bytes after the last one.
    ipcBuffers.give(ipc);
  }
}
