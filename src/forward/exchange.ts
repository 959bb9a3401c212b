/**
 * One query to one upstream over UDP (a fresh socket, so a random source port, and a random ID)
 * or TCP. Responses that fail the checks are ignored while the timer runs, so a spoofed packet
 * cannot end the exchange early.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { randomInt } from 'node:crypto';
import type { Query } from '../wire/query.ts';
import { FrameReader, frameMessage } from '../wire/tcp-framing.ts';
import { buildUpstreamQuery, expectedAnswer, inspectResponse, type UpstreamResponse } from './upstream-message.ts';
import type { ScrubRules } from './scrub.ts';
import type { Upstream } from './upstreams.ts';

export class ExchangeError extends Error {}

export interface ExchangeOptions {
  timeoutMs: number;
  udpSize: number;
  /** What an answer keeps before it is relayed or cached. */
  scrub: ScrubRules;
}

export function exchangeUdp(upstream: Upstream, request: Buffer, query: Query, options: ExchangeOptions): Promise<UpstreamResponse> {
  const id = randomInt(0, 65536);
  const message = buildUpstreamQuery(request, query, id, options.udpSize);
  const expected = expectedAnswer(request, query, id);
  return new Promise((resolve, reject) => {
    const socket = createSocket(upstream.family === 6 ? 'udp6' : 'udp4');
    const finish = (error: Error | null, response?: UpstreamResponse): void => {
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(response as UpstreamResponse);
    };
    const timer = setTimeout(() => finish(new ExchangeError(`${upstream.label}: no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    socket.on('error', (error) => finish(new ExchangeError(`${upstream.label}: ${error.message}`)));
    socket.on('message', (reply, from) => {
      if (from.port !== upstream.port || from.address !== upstream.host) return;
      const response = inspectResponse(reply, expected, options.scrub);
      if (response) finish(null, response);
    });
    socket.send(message, upstream.port, upstream.host);
  });
}

export function exchangeTcp(upstream: Upstream, request: Buffer, query: Query, options: ExchangeOptions): Promise<UpstreamResponse> {
  const id = randomInt(0, 65536);
  const message = buildUpstreamQuery(request, query, id, options.udpSize);
  const expected = expectedAnswer(request, query, id);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: upstream.host, port: upstream.port });
    const frames = new FrameReader();
    const finish = (error: Error | null, response?: UpstreamResponse): void => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(response as UpstreamResponse);
    };
    const timer = setTimeout(() => finish(new ExchangeError(`${upstream.label}: no TCP answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    socket.on('error', (error) => finish(new ExchangeError(`${upstream.label}: ${error.message}`)));
    socket.on('connect', () => {
      socket.write(frameMessage(message));
    });
    socket.on('data', (chunk) => {
      frames.push(chunk);
      for (let reply = frames.next(); reply !== null; reply = frames.next()) {
        const response = inspectResponse(Buffer.from(reply), expected, options.scrub);
        if (response) return finish(null, response);
      }
    });
    socket.on('close', () => finish(new ExchangeError(`${upstream.label}: TCP connection closed without an answer`)));
  });
}

/** UDP, and TCP again when the upstream says its answer did not fit (TC). */
export async function exchange(upstream: Upstream, request: Buffer, query: Query, options: ExchangeOptions): Promise<UpstreamResponse> {
  const response = await exchangeUdp(upstream, request, query, options);
  return response.truncated ? exchangeTcp(upstream, request, query, options) : response;
}
