/**
 * The open forms warn before a listener or UDP socket is bound where other machines can reach it
 * (issue 9, item 6). Which hosts count as what is decided here, the way the resolver reads them:
 * "0" is 0.0.0.0, "127.1" is 127.0.0.1, "::" is every IPv6 (and mapped IPv4) interface.
 */
import { describe, expect, it } from 'vitest';
import { hostExposure } from '../../src/shared/host-exposure';

describe('host exposure', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['localhost', 'loopback'],
    ['LocalHost.', 'loopback'],
    ['app.localhost', 'loopback'],
    ['0', 'every-interface'],
    ['0.0.0.0', 'every-interface'],
    ['0x0', 'every-interface'],
    ['00', 'every-interface'],
    ['0.0', 'every-interface'],
    ['::', 'every-interface'],
    ['0:0:0:0:0:0:0:0', 'every-interface'],
    ['::ffff:0.0.0.0', 'every-interface'],
    ['192.168.1.20', 'network-address'],
    ['10.1', 'network-address'],
    ['128.0.0.1', 'network-address'],
    ['fe80::1%eth0', 'network-address'],
    ['2001:db8::5', 'network-address'],
    ['example.org', 'name'],
    ['my-laptop', 'name'],
    ['1.2.3.4.5', 'name'],
    ['256.1.1.1', 'name'],
  ] as const)('%s is %s', (host, exposure) => {
    expect(hostExposure(host)).toBe(exposure);
  });

  it('has nothing to say about an empty host (the form says what is wrong with it)', () => {
    expect(hostExposure('  ')).toBeNull();
  });
});
