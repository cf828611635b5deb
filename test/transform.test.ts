import { expect } from 'chai';
import { loadStory } from '../engine/loader';
import type { EventRecord, Json } from '../engine/types';
import { startEngine, storyFile, type TestEngine } from './helpers/engine';
import { startUpstream, type Upstream } from './helpers/upstream';

const STORY = `path: modes
actions:
  - { name: split_hook, type: webhook, path: split }
  - name: split
    type: transform
    mode: explode
    after: split_hook
    path: "=split_hook.body.hosts"
    to: host
  - name: tag
    type: transform
    after: split
    payload: { id: "=split.host.id", n: "=split.index" }
  - name: gather
    type: transform
    mode: implode
    after: tag
    key: "=split.explode_id"
    size: "=split.size"
    item: "=tag.id"
    timeout: 5

  - { name: partial_hook, type: webhook, path: partial }
  - name: partial
    type: transform
    mode: implode
    after: partial_hook
    key: "=partial_hook.body.group"
    size: 3
    timeout: 0.2

  - { name: dedupe_hook, type: webhook, path: dedupe }
  - name: once
    type: transform
    mode: deduplicate
    after: dedupe_hook
    key: "=dedupe_hook.body.id"
    period: 60

  - { name: recent_hook, type: webhook, path: recent }
  - name: last_two
    type: transform
    mode: deduplicate
    after: recent_hook
    key: "=recent_hook.body.id"
    lookback: 2

  - { name: delay_hook, type: webhook, path: delay }
  - name: wait
    type: transform
    mode: delay
    after: delay_hook
    seconds: 0.3
  - { name: after_wait, type: transform, after: wait, payload: { at: "{{now 'unix_ms'}}" } }

  - { name: pace_hook, type: webhook, path: pace }
  - name: pace
    type: transform
    mode: throttle
    after: pace_hook
    limit: 2
    period: 0.5
  - { name: paced, type: transform, after: pace, payload: { at: "{{now 'unix_ms'}}" } }

  - { name: text_hook, type: webhook, path: text }
  - name: versions
    type: transform
    mode: extract
    after: text_hook
    text: "{{text_hook.body.text}}"
    pattern: "macOS (?<major>\\\\d+)\\\\.(\\\\d+)"
    all: true
`;

function failingStory(upstream: Upstream): string {
  return `path: failing
actions:
  - { name: hook, type: webhook, path: in }
  - name: call
    type: http_request
    after: hook
    url: "${upstream.url}/missing"
    emit_failure: true
  - name: handle
    type: trigger
    after: call
    when: "$exists(call.error)"
  - { name: note, type: transform, after: handle, payload: { reason: "=call.error.message", status: "=call.error.status" } }
`;
}

describe('transform modes', () => {
  let engine: TestEngine;
  let upstream: Upstream;

  before(async () => {
    upstream = await startUpstream(() => ({ status: 404, body: { message: 'no such thing' } }));
    engine = await startEngine([storyFile(STORY), storyFile(failingStory(upstream), 'failing.yaml')]);
  });

  after(async () => {
    await engine.stop();
    await upstream.close();
  });

  async function runOf(path: string, body: unknown): Promise<{ status: string; events: EventRecord[] }> {
    const response = await fetch(`${engine.url}/webhook/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const { run_id: runId } = (await response.json()) as { run_id: string };
    const run = await engine.runner.waitForRun(runId);
    return { status: run.status, events: await engine.store.listEvents(runId) };
  }

  function payloads(events: EventRecord[], action: string): Json[] {
    return events.filter((event) => event.action === action && event.status === 'emitted').map((event) => event.payload);
  }

  it('explode emits one event per element', async () => {
    const { events } = await runOf('modes/split', { hosts: [{ id: 1 }, { id: 2 }, { id: 3 }] });
    const split = payloads(events, 'split') as { host: { id: number }; index: number; size: number }[];
    expect(split.map((event) => event.host.id)).to.deep.equal([1, 2, 3]);
    expect(split.map((event) => event.index)).to.deep.equal([0, 1, 2]);
    expect(split.every((event) => event.size === 3)).to.equal(true);
  });

  it('implode gathers the exploded events back', async () => {
    const { status, events } = await runOf('modes/split', { hosts: [{ id: 7 }, { id: 8 }] });
    expect(status).to.equal('succeeded');
    const gathered = payloads(events, 'gather') as { items: number[]; complete: boolean }[];
    expect(gathered).to.have.length(1);
    expect([...gathered[0]!.items].sort()).to.deep.equal([7, 8]);
    expect(gathered[0]!.complete).to.equal(true);
  });

  it('implode emits a partial group at the timeout', async () => {
    const { events } = await runOf('modes/partial', { group: 'g1' });
    const gathered = payloads(events, 'partial') as { items: unknown[]; complete: boolean; size: number }[];
    expect(gathered).to.have.length(1);
    expect(gathered[0]!.items).to.have.length(1);
    expect(gathered[0]!.complete).to.equal(false);
    expect(gathered[0]!.size).to.equal(3);
  });

  it('explode fails the event when path is not a list', async () => {
    const { status, events } = await runOf('modes/split', { hosts: 'none' });
    expect(status).to.equal('failed');
    expect(events.find((event) => event.action === 'split')?.error).to.equal('split: explode needs a list at "path", got "none"');
  });

  it('deduplicate drops a key seen within the period', async () => {
    const first = await runOf('modes/dedupe', { id: 'a' });
    const second = await runOf('modes/dedupe', { id: 'a' });
    const other = await runOf('modes/dedupe', { id: 'b' });
    expect(payloads(first.events, 'once')).to.have.length(1);
    expect(payloads(second.events, 'once')).to.have.length(0);
    expect(second.events.find((event) => event.action === 'once')?.summary).to.equal('duplicate');
    expect(payloads(other.events, 'once')).to.have.length(1);
  });

  it('deduplicate with lookback remembers the last N keys', async () => {
    const passed: number[] = [];
    for (const id of ['x', 'y', 'x', 'z', 'x']) {
      const { events } = await runOf('modes/recent', { id });
      passed.push(payloads(events, 'last_two').length);
    }
    expect(passed).to.deep.equal([1, 1, 0, 1, 1]);
  });

  it('delay holds the event before the next action', async () => {
    const sent = Date.now();
    const { events } = await runOf('modes/delay', {});
    const at = Number((payloads(events, 'after_wait')[0] as { at: string }).at);
    expect(at - sent).to.be.at.least(300);
  });

  it('throttle spreads a burst over windows', async () => {
    const sent = Date.now();
    const runs = await Promise.all([1, 2, 3, 4, 5].map((n) => runOf('modes/pace', { n })));
    const times = runs.map(({ events }) => Number((payloads(events, 'paced')[0] as { at: string }).at) - sent).sort((a, b) => a - b);
    expect(times).to.have.length(5);
    expect(times[1]!).to.be.below(400);
    expect(times[2]!).to.be.at.least(300);
    expect(times[4]!).to.be.at.least(800);
  });

  it('extract emits regex captures', async () => {
    const { events } = await runOf('modes/text', { text: 'from macOS 14.4 to macOS 15.1' });
    const [result] = payloads(events, 'versions') as { matches: { match: string; groups: string[]; named: { major: string } }[] }[];
    expect(result!.matches.map((match) => match.match)).to.deep.equal(['macOS 14.4', 'macOS 15.1']);
    expect(result!.matches[0]!.groups).to.deep.equal(['14', '4']);
    expect(result!.matches[1]!.named.major).to.equal('15');
  });

  it('emit_failure routes a failed request as an event', async () => {
    const { status, events } = await runOf('failing/in', {});
    expect(status).to.equal('succeeded');
    const [note] = payloads(events, 'note') as { reason: string; status: number }[];
    expect(note!.status).to.equal(404);
    expect(note!.reason).to.equal(`GET ${upstream.url}/missing returned 404: no such thing`);
  });

  it('rejects an invalid pattern and a missing mode field at load', () => {
    const file = storyFile(`actions:
  - { name: hook, type: webhook, path: in }
  - { name: bad, type: transform, mode: extract, after: hook, text: "x", pattern: "(" }
  - { name: short, type: transform, mode: explode, after: hook }
`);
    const messages = loadStory(file).problems.map((problem) => `${problem.field}: ${problem.message}`);
    expect(messages).to.deep.equal(['actions[2]: missing required field "path"']);
    const regex = storyFile(`actions:
  - { name: hook, type: webhook, path: in }
  - { name: bad, type: transform, mode: extract, after: hook, text: "x", pattern: "(" }
`);
    const [problem] = loadStory(regex).problems;
    expect(problem?.field).to.equal('actions[1].pattern');
    expect(problem?.message).to.match(/^invalid regular expression: /);
  });
});
