/** Splitting cluster names, endpoint hostnames, pod labels and reverse names. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterName, podLabelToIp } from '../../src/resolve/cluster-name.ts';
import { endpointHostname } from '../../src/view/names.ts';
import { addressFromReverseName, reverseNameOf } from '../../src/resolve/reverse-name.ts';

describe('parseClusterName', () => {
  it('reads service, endpoint and port forms from the right', () => {
    assert.deepEqual(parseClusterName(['web', 'default', 'svc']), { podOrSvc: 'svc', namespace: 'default', service: 'web', endpoint: '', port: '', protocol: '' });
    assert.equal(parseClusterName(['db-0', 'db', 'default', 'svc'])?.endpoint, 'db-0');
    assert.deepEqual(parseClusterName(['_http', '_tcp', 'web', 'default', 'svc']), { podOrSvc: 'svc', namespace: 'default', service: 'web', endpoint: '', port: 'http', protocol: 'tcp' });
    assert.equal(parseClusterName(['a', 'b', 'c', 'web', 'default', 'svc']), null);
    assert.equal(parseClusterName(['web', 'default', 'svx']), null);
    assert.equal(parseClusterName(['svc'])?.podOrSvc, '');
  });
});

describe('endpointHostname', () => {
  it('prefers the hostname, then the pod name when asked, then the dashed IP', () => {
    assert.equal(endpointHostname('db-0', 'pod-x', '10.0.0.1', true), 'db-0');
    assert.equal(endpointHostname(null, 'pod-x', '10.0.0.1', true), 'pod-x');
    assert.equal(endpointHostname(null, 'pod-x', '10.0.0.1', false), '10-0-0-1');
    assert.equal(endpointHostname(null, null, 'fd00::', false), 'fd00--0');
    assert.equal(endpointHostname(null, null, '5678:abcd::1', false), '5678-abcd--1');
  });
});

describe('pod labels and reverse names', () => {
  it('turns pod labels into addresses as CoreDNS does', () => {
    assert.equal(podLabelToIp('10-244-0-11'), '10.244.0.11');
    assert.equal(podLabelToIp('fd00--1'), 'fd00::1');
  });

  it('round-trips reverse names for both families and refuses partial ones', () => {
    for (const ip of ['10.96.0.20', 'fd00:10:96::30', '::1']) assert.equal(addressFromReverseName(reverseNameOf(ip)), ip);
    assert.equal(addressFromReverseName('0.96.10.in-addr.arpa'), null);
    assert.equal(addressFromReverseName('300.0.96.10.in-addr.arpa'), null);
  });
});
