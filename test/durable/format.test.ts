import { expect } from 'chai';
import { formatAttempts, formatRuns } from '../../engine/commands/history';
import type { AttemptRecord } from '../../engine/store/types';

const attempt = (number: number, outcome: string | null): AttemptRecord => ({
  runId: 'run-1',
  itemId: 'item-1',
  action: 'run_mdm_command',
  attempt: number,
  workerId: 'host:1:abcdef12',
  startedAt: Date.UTC(2026, 0, 31, 12, 0, number),
  finishedAt: outcome === null ? null : Date.UTC(2026, 0, 31, 12, 0, number + 1),
  outcome,
});

describe('history formatting', function () {
  it('lists only notable attempts', function () {
    const lines = formatAttempts([
      attempt(1, 'interrupted'),
      attempt(2, 'retry: run_mdm_command: 503'),
      attempt(3, 'emitted'),
    ]);
    expect(lines).to.deep.equal([
      'attempts:',
      '  run_mdm_command #1 at 2026-01-31T12:00:01.000Z: interrupted',
      '  run_mdm_command #2 at 2026-01-31T12:00:02.000Z: retry: run_mdm_command: 503',
    ]);
  });

  it('shows an attempt in progress', function () {
    expect(formatAttempts([attempt(1, null)])[1]).to.equal(
      '  run_mdm_command #1 at 2026-01-31T12:00:01.000Z: in progress',
    );
  });

  it('prints nothing for plain attempts', function () {
    expect(formatAttempts([attempt(1, 'emitted'), attempt(1, 'failed')])).to.deep.equal([]);
  });

  it('aligns the runs table', function () {
    const created = Date.UTC(2026, 0, 31, 12);
    const table = formatRuns([
      {
        id: 'run-long-id',
        story: 'fleet',
        storyName: 'Fleet',
        status: 'failed',
        createdAt: created,
        finishedAt: created + 42,
        error: 'get_host: 404',
      },
      {
        id: 'run-2',
        story: 'fleet',
        storyName: 'Fleet',
        status: 'running',
        createdAt: created,
        finishedAt: null,
        error: null,
      },
    ]);
    expect(table.split('\n')).to.deep.equal([
      'RUN          STATUS   STORY  STARTED                   TOOK   ERROR',
      'run-long-id  failed   fleet  2026-01-31T12:00:00.000Z  42 ms  get_host: 404',
      'run-2        running  fleet  2026-01-31T12:00:00.000Z  -',
    ]);
  });

  it('says when no run matches', function () {
    expect(formatRuns([])).to.equal('no runs found');
  });
});
