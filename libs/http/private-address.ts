// Webhook URLs come from clients, so a delivery must not reach into the gateway's own network
// (cloud metadata at 169.254.169.254, Redis on loopback, the cluster's private ranges) unless
// webhooks.allowPrivateNetworks says so. The check runs on the addresses a host resolves to, at
// connect time, so a name that resolves differently later (DNS rebinding) is caught as well.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

const privateRanges = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  privateRanges.addSubnet(network, prefix, 'ipv6');
}

/** True for loopback, private, link-local, shared, multicast and reserved addresses. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return privateRanges.check(address, 'ipv4');
  if (family !== 6) return false;
  // An IPv4 address written as IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? privateRanges.check(mapped[1], 'ipv4') : privateRanges.check(address, 'ipv6');
}

/** The host of a URL when it is a literal private address (brackets removed), else undefined. */
export function privateLiteralHost(url: string): string | undefined {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  return isPrivateAddress(host) ? host : undefined;
}

export class PrivateAddressError extends Error {
  readonly code = 'EWEBHOOKPRIVATE';
}

/** A dns lookup for sockets that fails when the host resolves to a private address. */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    const refused = addresses.find((a) => isPrivateAddress(a.address));
    if (refused) return callback(new PrivateAddressError(`webhook host resolves to a private address (${refused.address})`), '', 0);
    if (options.all) return (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, addresses);
    const [first] = addresses;
    callback(null, first.address, first.family);
  });
};
