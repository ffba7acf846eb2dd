import { describe, expect, it } from 'vitest';
import { FlashBag } from './flash-bag.js';

describe('FlashBag', () => {
  describe('a new bag', () => {
    it('with nothing incoming is unchanged and has nothing pending', () => {
      const bag = new FlashBag(undefined);
      expect(bag.hasChanged).toBe(false);
      expect(bag.pending).toBeUndefined();
    });

    it('with an incoming flash is unchanged and keeps the flash pending until read', () => {
      const incoming = { info: ['hello'] };
      const bag = new FlashBag(incoming);
      expect(bag.hasChanged).toBe(false);
      expect(bag.pending).toBe(incoming);
    });
  });

  describe('consume()', () => {
    it('returns the whole incoming value once, then undefined', () => {
      const incoming = { info: ['hello'] };
      const bag = new FlashBag(incoming);
      expect(bag.consume()).toBe(incoming);
      expect(bag.consume()).toBeUndefined();
    });

    it('removes the read value from what is stored', () => {
      const bag = new FlashBag('Saved.');
      expect(bag.consume()).toBe('Saved.');
      expect(bag.hasChanged).toBe(true);
      expect(bag.pending).toBeUndefined();
    });

    it.each([
      ['a string', 'Saved.'],
      ['a number', 0],
      ['false', false],
      ['null', null],
      ['an empty string', ''],
      ['an array', ['a', 'b']],
    ])('returns %s whole', (_label, value) => {
      const bag = new FlashBag(value);
      expect(bag.consume()).toBe(value);
      expect(bag.pending).toBeUndefined();
      expect(bag.consume()).toBeUndefined();
    });

    it('returns undefined and changes nothing when there is no incoming flash', () => {
      const bag = new FlashBag(undefined);
      expect(bag.consume()).toBeUndefined();
      expect(bag.hasChanged).toBe(false);
      expect(bag.pending).toBeUndefined();
    });

    it('after a key was read, returns only the keys left', () => {
      const bag = new FlashBag({ info: ['i'], error: ['e'] });
      expect(bag.consume('info')).toEqual(['i']);
      expect(bag.consume()).toEqual({ error: ['e'] });
      expect(bag.consume()).toBeUndefined();
      expect(bag.pending).toBeUndefined();
    });
  });

  describe('consume(key)', () => {
    it('returns that key and removes only it, leaving the rest pending', () => {
      const bag = new FlashBag({ info: ['i'], error: ['e'], success: ['s'] });
      expect(bag.consume('error')).toEqual(['e']);
      expect(bag.hasChanged).toBe(true);
      expect(bag.pending).toEqual({ info: ['i'], success: ['s'] });
    });

    it('returns the key once', () => {
      const bag = new FlashBag({ info: ['i'], error: ['e'] });
      expect(bag.consume('info')).toEqual(['i']);
      expect(bag.consume('info')).toBeUndefined();
      expect(bag.consume('error')).toEqual(['e']);
      expect(bag.consume('error')).toBeUndefined();
    });

    it('leaves nothing pending once the last key was read', () => {
      const bag = new FlashBag({ info: ['i'] });
      expect(bag.consume('info')).toEqual(['i']);
      expect(bag.hasChanged).toBe(true);
      expect(bag.pending).toBeUndefined();
    });

    it('returns a key whose value is falsy', () => {
      const bag = new FlashBag({ count: 0, flag: false, nothing: null });
      expect(bag.consume('count')).toBe(0);
      expect(bag.consume('flag')).toBe(false);
      expect(bag.consume('nothing')).toBeNull();
      expect(bag.pending).toBeUndefined();
    });

    it('does not mutate the incoming object', () => {
      const incoming = { info: ['i'], error: ['e'] };
      const bag = new FlashBag(incoming);
      bag.consume('info');
      expect(incoming).toEqual({ info: ['i'], error: ['e'] });
    });

    it('returns undefined and removes nothing for a key that is absent', () => {
      const incoming = { info: ['i'] };
      const bag = new FlashBag(incoming);
      expect(bag.consume('error')).toBeUndefined();
      expect(bag.hasChanged).toBe(false);
      expect(bag.pending).toBe(incoming);
      expect(bag.consume('info')).toEqual(['i']);
    });

    it('ignores inherited properties such as toString and constructor', () => {
      const bag = new FlashBag({ info: ['i'] });
      expect(bag.consume('toString')).toBeUndefined();
      expect(bag.consume('constructor')).toBeUndefined();
      expect(bag.consume('__proto__')).toBeUndefined();
      expect(bag.hasChanged).toBe(false);
    });

    it.each([
      ['a string', 'Saved.'],
      ['a number', 42],
      ['null', null],
      ['an array', ['info']],
    ])('returns undefined and removes nothing when the flash is %s', (_label, value) => {
      const bag = new FlashBag(value);
      expect(bag.consume('info')).toBeUndefined();
      expect(bag.consume('0')).toBeUndefined();
      expect(bag.hasChanged).toBe(false);
      expect(bag.pending).toBe(value);
      // The whole value is still readable.
      expect(bag.consume()).toBe(value);
    });

    it('returns undefined when there is no incoming flash', () => {
      const bag = new FlashBag(undefined);
      expect(bag.consume('info')).toBeUndefined();
      expect(bag.hasChanged).toBe(false);
    });
  });

  describe('set()', () => {
    it('replaces what is pending', () => {
      const bag = new FlashBag({ info: ['old'] });
      bag.set('new');
      expect(bag.hasChanged).toBe(true);
      expect(bag.pending).toBe('new');
    });

    it('replaces an earlier set() and earlier add() calls', () => {
      const bag = new FlashBag(undefined);
      bag.add('info', 'a');
      bag.set({ success: 'b' });
      expect(bag.pending).toEqual({ success: 'b' });
      bag.set('c');
      expect(bag.pending).toBe('c');
    });

    it('set(undefined) removes the pending flash and counts as a change', () => {
      const bag = new FlashBag('unread');
      bag.set(undefined);
      expect(bag.hasChanged).toBe(true);
      expect(bag.pending).toBeUndefined();
    });

    it('does not make the value readable in this request', () => {
      const bag = new FlashBag(undefined);
      bag.set('for the next request');
      expect(bag.consume()).toBeUndefined();
      expect(bag.pending).toBe('for the next request');
    });

    it('does not change what consume() returns from the previous request', () => {
      const bag = new FlashBag('from the previous request');
      bag.set('for the next request');
      expect(bag.consume()).toBe('from the previous request');
      expect(bag.pending).toBe('for the next request');
      expect(bag.consume()).toBeUndefined();
    });

    it('keeps the new value pending when an incoming key is consumed afterwards', () => {
      const bag = new FlashBag({ info: ['i'], error: ['e'] });
      bag.set({ success: ['s'] });
      expect(bag.consume('info')).toEqual(['i']);
      expect(bag.pending).toEqual({ success: ['s'] });
      expect(bag.consume('error')).toEqual(['e']);
      expect(bag.consume('success')).toBeUndefined();
    });
  });

  describe('add()', () => {
    it('starts a list under the type', () => {
      const bag = new FlashBag(undefined);
      bag.add('success', 'Saved.');
      expect(bag.hasChanged).toBe(true);
      expect(bag.pending).toEqual({ success: ['Saved.'] });
    });

    it('accumulates messages of one type in order', () => {
      const bag = new FlashBag(undefined);
      bag.add('error', 'Name is required');
      bag.add('error', 'Email is required');
      bag.add('info', { code: 1 });
      expect(bag.pending).toEqual({ error: ['Name is required', 'Email is required'], info: [{ code: 1 }] });
    });

    it('keeps unread keyed messages from the previous request and merges into their lists', () => {
      const bag = new FlashBag({ info: ['old info'], error: ['old error'] });
      bag.add('info', 'new info');
      expect(bag.pending).toEqual({ info: ['old info', 'new info'], error: ['old error'] });
    });

    it('does not mutate the incoming object or its arrays', () => {
      const incoming = { info: ['old'] };
      const bag = new FlashBag(incoming);
      bag.add('info', 'new');
      bag.add('error', 'e');
      expect(incoming).toEqual({ info: ['old'] });
    });

    it('wraps an existing non-array value of the type into a list', () => {
      const bag = new FlashBag({ success: 'Saved.' });
      bag.add('success', 'Sent.');
      expect(bag.pending).toEqual({ success: ['Saved.', 'Sent.'] });
    });

    it('wraps an existing null value of the type into a list', () => {
      const bag = new FlashBag({ success: null });
      bag.add('success', 'Sent.');
      expect(bag.pending).toEqual({ success: [null, 'Sent.'] });
    });

    it('adds to what set() left when it is an object', () => {
      const bag = new FlashBag(undefined);
      bag.set({ info: 'x' });
      bag.add('info', 'y');
      expect(bag.pending).toEqual({ info: ['x', 'y'] });
    });

    it('replaces a pending non-object flash (string) with the keyed messages', () => {
      const bag = new FlashBag(undefined);
      bag.set('plain');
      bag.add('info', 'y');
      expect(bag.pending).toEqual({ info: ['y'] });
    });

    it('does not merge messages already read in this request', () => {
      const bag = new FlashBag({ info: ['read'], error: ['unread'] });
      expect(bag.consume('info')).toEqual(['read']);
      bag.add('success', 'new');
      expect(bag.pending).toEqual({ error: ['unread'], success: ['new'] });
    });

    it('is not readable in this request', () => {
      const bag = new FlashBag(undefined);
      bag.add('success', 'Saved.');
      expect(bag.consume('success')).toBeUndefined();
      expect(bag.consume()).toBeUndefined();
      expect(bag.pending).toEqual({ success: ['Saved.'] });
    });

    it('a message read after add() is not stored again (consume(key))', () => {
      const bag = new FlashBag({ info: ['old info'] });
      bag.add('success', 'Saved.');
      expect(bag.consume('info')).toEqual(['old info']);
      expect(bag.pending).toEqual({ success: ['Saved.'] });
    });

    it('a flash read whole after add() is not stored again (consume())', () => {
      const bag = new FlashBag({ info: ['old info'] });
      bag.add('success', 'Saved.');
      expect(bag.consume()).toEqual({ info: ['old info'] });
      expect(bag.pending).toEqual({ success: ['Saved.'] });
    });

    it('a type named like an Object.prototype member starts a fresh list', () => {
      const bag = new FlashBag(undefined);
      bag.add('constructor', 'x');
      expect(bag.pending).toEqual({ constructor: ['x'] });
    });
  });

  describe('hasChanged and markSaved()', () => {
    it('markSaved() resets hasChanged and keeps pending', () => {
      const bag = new FlashBag(undefined);
      bag.add('info', 'x');
      expect(bag.hasChanged).toBe(true);
      bag.markSaved();
      expect(bag.hasChanged).toBe(false);
      expect(bag.pending).toEqual({ info: ['x'] });
    });

    it('turns true again on the next change after markSaved()', () => {
      const bag = new FlashBag(undefined);
      bag.set('a');
      bag.markSaved();
      bag.add('info', 'x');
      expect(bag.hasChanged).toBe(true);
    });

    it('turns true when the incoming flash is consumed after markSaved()', () => {
      const bag = new FlashBag('incoming');
      bag.markSaved();
      expect(bag.hasChanged).toBe(false);
      expect(bag.consume()).toBe('incoming');
      expect(bag.hasChanged).toBe(true);
      expect(bag.pending).toBeUndefined();
    });

    it('stays false after reads that remove nothing', () => {
      const bag = new FlashBag({ info: ['i'] });
      bag.consume('missing');
      expect(bag.hasChanged).toBe(false);
      const empty = new FlashBag(undefined);
      empty.consume();
      empty.consume('info');
      expect(empty.hasChanged).toBe(false);
    });
  });
});
