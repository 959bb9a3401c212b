/**
 * A serving worker thread: its own UDP and TCP sockets on the shared ports, and a handler that
 * answers from the fixed answers the primary shares with every thread and from the routes and
 * client placements it taught it, relaying the rest to the primary (which holds the view and the
 * one forwarder). It holds no cluster view.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../log.ts';
import { ServingThread } from '../server/serving.ts';
import { adoptCookieSecret } from '../server/edns-reply.ts';
import { adoptQuestionKeySeed } from '../wire/query.ts';
import { RelayClient } from './relay-client.ts';
import type { FromWorker, ToWorker, WorkerStart } from './messages.ts';

const start = workerData as WorkerStart;
const port = parentPort!;
const send = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

const log = createLogger(start.settings.logLevel).child({ worker: start.index });
const state = { ready: start.ready };
adoptCookieSecret(start.cookieSecret);
adoptQuestionKeySeed(start.questionKeySeed);
const relay = new RelayClient(send, start.settings.relay);
const serving = ServingThread.relaying(relay, start.settings, log, state, start.threads, start.sharedAnswers);

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'listen':
      void serving.listen(message.listen, true, start.udpIo).then((bound) => send({ type: 'listening', bound }));
      return;
    case 'relayed':
      relay.settle(message.id, message.reply);
      return;
    case 'drops':
      for (const drop of message.drops) serving.drop(drop);
      return;
    case 'ready':
      state.ready = true;
      return;
    case 'settings':
      log.level = message.settings.logLevel;
      relay.reconfigure(message.settings.relay);
      serving.reload(message.settings);
      return;
    case 'stats':
      send({ type: 'stats', id: message.id, stats: serving.stats() });
      return;
    case 'stop':
      serving.close();
      relay.close();
      log.flush();
      send({ type: 'stopped' });
      port.close();
      return;
  }
});
