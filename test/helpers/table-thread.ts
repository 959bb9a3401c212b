/**
 * Another thread on a shared table of fixed answers (src/server/shared-answers.ts), for tests of
 * what readers and the writer see across threads: a worker thread that runs `body` with the real
 * modules loaded, the primary's question-key seed adopted, and in scope `table` (a SharedAnswers
 * over `memory`), `readCommonQuery`, `workerData` (with `data`'s fields) and `parentPort`.
 */
import { Worker } from 'node:worker_threads';
import type { SharedAnswersMemory } from '../../src/server/shared-answers.ts';
import { questionKeySeed } from '../../src/wire/query.ts';

export function tableThread(memory: SharedAnswersMemory, body: string, data: Record<string, unknown>): Worker {
  return new Worker(
    `
    const { workerData, parentPort } = require('node:worker_threads');
    (async () => {
      const { SharedAnswers } = await import(workerData.module);
      const { readCommonQuery, adoptQuestionKeySeed } = await import(workerData.query);
      adoptQuestionKeySeed(workerData.seed);
      const table = new SharedAnswers(workerData.memory);
      ${body}
    })();
    `,
    {
      eval: true,
      execArgv: ['--import', 'tsx'],
      workerData: {
        ...data,
        module: new URL('../../src/server/shared-answers.ts', import.meta.url).href,
        query: new URL('../../src/wire/query.ts', import.meta.url).href,
        seed: questionKeySeed(),
        memory,
      },
    },
  );
}
