/**
 * A serving worker thread: a replica of the primary's cluster view, fed with its updates, and
 * its own UDP and TCP sockets on the shared ports.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../log.ts';
import { ClusterView } from '../view/cluster-view.ts';
import { ServingThread } from '../server/serving.ts';
import { ReplicaFeed } from './replica-feed.ts';
import { adoptCookieSecret } from '../server/edns-reply.ts';
import type { FromWorker, ToWorker, WorkerStart } from './messages.ts';

const start = workerData as WorkerStart;
const port = parentPort!;
const send = (message: FromWorker): void => port.postMessage(message);

const log = createLogger(start.settings.logLevel).child({ worker: start.index });
const view = new ClusterView({ requireNamespaceObjects: start.settings.kubernetes.namespaceLabels !== undefined });
view.replicate({ kind: 'replaceAll', objects: start.snapshot }, start.serial);
const state = { ready: start.ready };
adoptCookieSecret(start.cookieSecret);
const serving = new ServingThread(view, start.settings, log, state, start.threads);
const feed = new ReplicaFeed(view);

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'view':
      feed.push(message.update, message.serial);
      return;
    case 'ready':
      // Ready once the updates the primary made before it are in this replica too.
      feed.then(() => (state.ready = true));
      return;
    case 'settings':
      log.level = message.settings.logLevel;
      serving.reload(message.settings);
      return;
    case 'stats':
      send({ type: 'stats', id: message.id, stats: serving.stats() });
      return;
    case 'stop':
      serving.close();
      log.flush();
      send({ type: 'stopped' });
      port.close();
      return;
  }
});

send({ type: 'listening', bound: await serving.listen(start.listen, true, start.udpIo) });
