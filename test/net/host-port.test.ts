import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatHostPort, parseHostPort, parseServerAddress } from '../../src/net/host-port.ts';

describe('parseHostPort', () => {
  it('reads HOST:PORT and [IPv6]:PORT', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
    assert.deepEqual(parseHostPort('[::1]:53'), { host: '::1', port: 53 });
    assert.deepEqual(parseHostPort('localhost:0'), { host: 'localhost', port: 0 });
  });

  it('needs a port unless given a default, which also admits a bare IPv6 address', () => {
    assert.equal(parseHostPort('127.0.0.1'), null);
    assert.equal(parseHostPort('::1'), null);
    assert.deepEqual(parseHostPort('10.0.0.1', 53), { host: '10.0.0.1', port: 53 });
    assert.deepEqual(parseHostPort('[fd00::1]', 53), { host: 'fd00::1', port: 53 });
    assert.deepEqual(parseHostPort('fd00::1', 53), { host: 'fd00::1', port: 53 });
  });

  it('refuses what is not one of those shapes', () => {
    for (const text of ['', ':53', '1.2.3.4:', '1.2.3.4:65536', '1.2.3.4:123456', '1.2.3.4: 53', '1.2.3.4:0x35', '[foo]:53', 'a b:53', '1.2.3.4:5:6']) {
      assert.equal(parseHostPort(text, 53), null, text);
    }
  });

  it('prints what it reads', () => {
    for (const text of ['127.0.0.1:5353', '[::1]:53']) assert.equal(formatHostPort(parseHostPort(text)!), text);
  });
});

describe('parseServerAddress', () => {
  it('is an IP, made canonical, on port 53 unless given', () => {
    assert.deepEqual(parseServerAddress('[FD00:0::1]:5300'), { host: 'fd00::1', port: 5300 });
    assert.deepEqual(parseServerAddress('10.0.0.1'), { host: '10.0.0.1', port: 53 });
  });

  it('names the text it refuses', () => {
    for (const text of ['dns.example:53', '10.0.0.1:0', '10.0.0.1:70000']) assert.throws(() => parseServerAddress(text), new RegExp(`upstream "${text}"`));
  });
});
