/**
 * The client address rate limits key on (src/http/rate-limits.ts clientAddressOf) and how
 * TRUST_PROXY reads (src/config.ts): behind an appending proxy, only the entries the trusted
 * proxies added count, so a client cannot pick its own address by sending X-Forwarded-For.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config.js';
import { clientAddressOf } from '../../src/http/rate-limits.js';

/** A request from `peer` carrying `forwarded` as its X-Forwarded-For. */
function from(peer: string, forwarded?: string): IncomingMessage {
  const socket = { remoteAddress: peer };
  return { socket, connection: socket, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } } as unknown as IncomingMessage;
}

describe('client address', () => {
  it('is the socket peer unless proxies are trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddressOf(false)(from('198.51.100.7', '203.0.113.1'))).toBe('198.51.100.7');
    expect(clientAddressOf(1)(undefined)).toBe('unknown');
  });

  it('behind N trusted hops is the entry the outermost of them saw, not what the client wrote', () => {
    // The client wrote "6.6.6.6"; the proxy at 10.0.0.2 appended the address it saw (203.0.113.9).
    const spoofed = from('10.0.0.2', '6.6.6.6, 203.0.113.9');
    expect(clientAddressOf(1)(spoofed)).toBe('203.0.113.9');
    expect(clientAddressOf(2)(spoofed)).toBe('6.6.6.6');
    expect(clientAddressOf(['10.0.0.0/8'])(spoofed)).toBe('203.0.113.9');
    expect(clientAddressOf(['loopback', '10.0.0.0/8'])(from('127.0.0.1', '6.6.6.6, 203.0.113.9, 10.1.1.1'))).toBe('203.0.113.9');
    // Every hop trusted: the leftmost entry (only safe when the first proxy overwrites the header).
    expect(clientAddressOf(true)(spoofed)).toBe('6.6.6.6');
    // A peer that is not a trusted proxy: its X-Forwarded-For is ignored.
    expect(clientAddressOf(['10.0.0.0/8'])(from('198.51.100.7', '6.6.6.6'))).toBe('198.51.100.7');
  });

  it('keys one client one way: no port, IPv4-mapped as IPv4, garbage as the peer, no peer as unknown', () => {
    expect(clientAddressOf(1)(from('10.0.0.2', '203.0.113.5:51234'))).toBe('203.0.113.5');
    expect(clientAddressOf(1)(from('10.0.0.2', '[2001:DB8::1]:443'))).toBe('2001:db8::1');
    expect(clientAddressOf(['loopback'])(from('::ffff:127.0.0.1', '::ffff:203.0.113.5'))).toBe('203.0.113.5');
    expect(clientAddressOf(false)(from('::ffff:198.51.100.7'))).toBe('198.51.100.7');
    expect(clientAddressOf(1)(from('10.0.0.2', 'not-an-address'))).toBe('10.0.0.2');
    const gone = { socket: {}, connection: {}, headers: { 'x-forwarded-for': '203.0.113.5' } } as unknown as IncomingMessage;
    expect([clientAddressOf(false)(gone), clientAddressOf(true)(gone)]).toEqual(['unknown', '203.0.113.5']);
    expect(clientAddressOf(1)({ socket: {}, connection: {}, headers: {} } as unknown as IncomingMessage)).toBe('unknown');
  });

  it('reads TRUST_PROXY as false, true, a number of hops or proxy addresses, and refuses anything else by name', () => {
    const trust = (value: string) => parseConfig({ TRUST_PROXY: value }).rateLimits.trustProxy;
    expect([trust(''), trust('false'), trust('0'), trust('no')]).toEqual([false, false, false, false]);
    expect([trust('true'), trust('YES')]).toEqual([true, true]);
    expect(trust('1')).toBe(1);
    expect(trust('2')).toBe(2);
    expect(trust(' loopback, 10.0.0.0/8 ')).toEqual(['loopback', '10.0.0.0/8']);
    expect(trust('LoopBack,UNIQUELOCAL')).toEqual(['loopback', 'uniquelocal']);
    for (const [value, problem] of [[',', 'an empty entry'], ['loopback,,10.0.0.1', 'an empty entry'], ['2,3', '2 is a number of hops only on its own'], ['loopback 10.0.0.0/8', 'invalid IP address']]) {
      expect(() => trust(value!), value).toThrow(problem!);
    }
    expect(parseConfig({}).rateLimits.trustProxy).toBe(false);
    expect(() => trust('the proxy')).toThrow(ConfigError);
    expect(() => trust('the proxy')).toThrow(/TRUST_PROXY: expected false, true, a number of trusted hops, or comma-separated proxy addresses, subnets and names/);
  });
});
