/**
 * Unit tests of the held-sources cache: a frame is taken once, at most `max` are held, and an entry no pass
 * takes is dropped after its time to live.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pl from 'nodejs-polars';
import { createHeldSources } from './held-sources';

const frame = (n: number) => pl.DataFrame({ id: Array.from({ length: n }, (_, i) => i) });

describe('createHeldSources', () => {
  it('gives a held frame to the first take only', () => {
    const held = createHeldSources();
    const a = frame(3);
    assert.equal(held.put('run/a', a), true);
    assert.deepEqual(held.keys(), ['run/a']);
    assert.equal(held.take('run/a'), a);
    assert.equal(held.take('run/a'), undefined);
    assert.deepEqual(held.keys(), []);
  });

  it('holds at most `max` frames; a put over it holds nothing, and room comes back once one is taken', () => {
    const held = createHeldSources(60_000, 2);
    assert.equal(held.put('a', frame(1)), true);
    assert.equal(held.put('b', frame(1)), true);
    assert.equal(held.put('c', frame(1)), false);
    assert.equal(held.take('c'), undefined);
    held.take('a');
    assert.equal(held.put('c', frame(1)), true);
    assert.deepEqual(held.keys().sort(), ['b', 'c']);
  });

  it('a second put under the same key replaces the first without using more room', () => {
    const held = createHeldSources(60_000, 1);
    const second = frame(2);
    assert.equal(held.put('a', frame(1)), true);
    assert.equal(held.put('a', second), true);
    assert.equal(held.take('a'), second);
  });

  it('drops a frame no pass took after its time to live', async () => {
    const held = createHeldSources(30, 2);
    held.put('a', frame(1));
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(held.keys(), []);
    assert.equal(held.take('a'), undefined);
  });
});
