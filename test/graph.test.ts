import { expect } from 'chai';
import {
  describeCondition,
  escapeMermaid,
  quoteDot,
  renderGraph,
  testsError,
  type GraphAction,
  type GraphStory,
} from '../engine/graph';

function action(
  name: string,
  type: string,
  after: string[],
  options: Record<string, unknown> = {},
): GraphAction {
  return { name, type, after, options };
}

/** The Fleet story's shape, written as plain objects. */
const fleet: GraphStory = {
  name: 'Fleet OS update',
  actions: [
    action('calendar_webhook', 'webhook', [], { path: 'calendar' }),
    action('webhook_error', 'trigger', ['calendar_webhook'], {
      when: '$exists(calendar_webhook.body.error) and calendar_webhook.body.error != ""',
    }),
    action('os_policy_failing', 'trigger', ['calendar_webhook'], {
      when: '$count(calendar_webhook.body.failing_policies[name = "macOS - OS version up to date"]) > 0',
    }),
    action('get_host', 'http_request', ['os_policy_failing'], { method: 'GET' }),
    action('mdm_command', 'transform', ['get_host']),
    action('encode_command', 'transform', ['mdm_command']),
    action('run_mdm_command', 'http_request', ['encode_command'], { method: 'POST' }),
  ],
};

describe('graph mermaid', () => {
  const text = renderGraph(fleet, 'mermaid');
  const lines = text.split('\n');

  it('starts a top-down flowchart', () => {
    expect(lines).to.include('flowchart TD');
  });

  it('titles the chart with the story name', () => {
    expect(lines.slice(0, 3)).to.deep.equal(['---', 'title: "Fleet OS update"', '---']);
  });

  it('draws each action with name and type', () => {
    expect(lines).to.include('  a_get_host["get_host<br/>http_request"]');
    expect(lines).to.include('  a_calendar_webhook(["calendar_webhook<br/>webhook"])');
    expect(lines).to.include('  a_mdm_command("mdm_command<br/>transform")');
  });

  it('draws every after edge', () => {
    expect(lines).to.include('  a_os_policy_failing --> a_get_host');
    expect(lines).to.include('  a_get_host --> a_mdm_command');
    expect(lines).to.include('  a_mdm_command --> a_encode_command');
    expect(lines).to.include('  a_encode_command --> a_run_mdm_command');
    expect(lines).to.include('  a_calendar_webhook --> a_os_policy_failing');
  });

  it('labels a trigger with its escaped condition', () => {
    const node = lines.find((line) => line.startsWith('  a_os_policy_failing{{'));
    expect(node).to.equal(
      '  a_os_policy_failing{{"os_policy_failing<br/>trigger<br/>' +
        'when: $count(calendar_webhook.body.failing_policies[name<br/>' +
        '= #34;macOS - OS version up to date#34;]) #62; 0"}}',
    );
  });

  it('dashes the edge into the error branch', () => {
    expect(lines).to.include('  a_calendar_webhook -.-> a_webhook_error');
  });

  it('styles only the error trigger as error branch', () => {
    expect(lines).to.include('  class a_webhook_error errorBranch');
  });

  it('ends with a newline', () => {
    expect(text.endsWith('errorBranch\n')).to.equal(true);
  });
});

describe('graph dot', () => {
  const text = renderGraph(fleet, 'dot');
  const lines = text.split('\n');

  it('writes a digraph labelled with the story name', () => {
    expect(lines[0]).to.equal('digraph story {');
    expect(lines).to.include('  label="Fleet OS update";');
    expect(lines.at(-2)).to.equal('}');
  });

  it('draws each action with name and type', () => {
    expect(lines).to.include('  a_get_host [label="get_host\\nhttp_request", shape=box];');
    expect(lines).to.include(
      '  a_mdm_command [label="mdm_command\\ntransform", shape=box, style=rounded];',
    );
  });

  it('draws every after edge', () => {
    expect(lines).to.include('  a_os_policy_failing -> a_get_host;');
    expect(lines).to.include('  a_encode_command -> a_run_mdm_command;');
  });

  it('escapes quotes in trigger conditions', () => {
    const node = lines.find((line) => line.startsWith('  a_os_policy_failing ['));
    expect(node).to.contain('[name\\n= \\"macOS - OS version up to date\\"]) > 0"');
  });

  it('colours the error branch and its edge', () => {
    const node = lines.find((line) => line.startsWith('  a_webhook_error ['));
    expect(node).to.contain('color="#c62828"');
    const edge = lines.find((line) => line.startsWith('  a_calendar_webhook -> a_webhook_error'));
    expect(edge).to.contain('style=dashed');
  });

  it('leaves ordinary triggers uncoloured', () => {
    const node = lines.find((line) => line.startsWith('  a_os_policy_failing ['));
    expect(node).not.to.contain('#c62828');
  });
});

describe('graph emit_failure', () => {
  const story: GraphStory = {
    name: 'Failures',
    actions: [
      action('hook', 'webhook', []),
      action('call', 'http_request', ['hook'], { emit_failure: true }),
      action('call_failed', 'trigger', ['call'], { when: '$exists(call.error)' }),
      action('call_ok', 'trigger', ['call'], { when: 'call.status = 200' }),
    ],
  };

  it('labels the failure edge in mermaid', () => {
    const lines = renderGraph(story, 'mermaid').split('\n');
    expect(lines).to.include('  a_call -.->|on failure| a_call_failed');
    expect(lines).to.include('  a_call --> a_call_ok');
  });

  it('labels the failure edge in dot', () => {
    const lines = renderGraph(story, 'dot').split('\n');
    const edge = lines.find((line) => line.startsWith('  a_call -> a_call_failed'));
    expect(edge).to.contain('label="on failure"');
    expect(lines).to.include('  a_call -> a_call_ok;');
  });

  it('marks the emitting action', () => {
    const lines = renderGraph(story, 'mermaid').split('\n');
    expect(lines).to.include('  a_call["call<br/>http_request<br/>emits failures"]');
  });
});

describe('graph labels', () => {
  it('summarises rules with match any', () => {
    const text = describeCondition({
      match: 'any',
      rules: [
        { path: 'hook.body.status', type: 'field>=value', value: 500 },
        { path: 'hook.body.name', type: 'regex', value: '^mac' },
      ],
    });
    expect(text).to.equal('rules (any): hook.body.status >= 500 or hook.body.name regex "^mac"');
  });

  it('summarises rules with the default match all', () => {
    const text = describeCondition({ rules: [{ path: 'a.b', type: 'is present' }] });
    expect(text).to.equal('rules (all): a.b is present');
  });

  it('finds error tests in rule paths', () => {
    expect(testsError({ rules: [{ path: 'hook.body.error', type: 'is present' }] })).to.equal(true);
    expect(testsError({ rules: [{ path: 'hook.body.errors_seen', type: 'is present' }] })).to.equal(
      false,
    );
  });

  it('escapes mermaid markup and entity starts', () => {
    expect(escapeMermaid('a "b" #1 <i>&`')).to.equal('a #34;b#34; #35;1 #60;i#62;#38;#96;');
  });

  it('escapes dot backslashes, quotes and newlines', () => {
    expect(quoteDot('a\\l "b"\nc')).to.equal('"a\\\\l \\"b\\"\\nc"');
  });

  it('shows a transform mode other than message', () => {
    const story: GraphStory = {
      name: 's',
      actions: [action('split', 'transform', [], { mode: 'explode' })],
    };
    expect(renderGraph(story, 'mermaid')).to.contain('  a_split("split<br/>transform (explode)")');
  });

  it('falls back to index ids for unusual names', () => {
    const story: GraphStory = { name: 's', actions: [action('odd name', 'webhook', [])] };
    expect(renderGraph(story, 'mermaid')).to.contain('  a0(["odd name<br/>webhook"])');
    expect(renderGraph(story, 'dot')).to.contain('  a0 [label="odd name\\nwebhook"');
  });

  it('cuts very long conditions', () => {
    const when = `x = "${'y'.repeat(400)}"`;
    const story: GraphStory = { name: 's', actions: [action('t', 'trigger', [], { when })] };
    const dot = renderGraph(story, 'dot');
    expect(dot).to.contain('…');
    expect(dot).not.to.contain('y'.repeat(300));
  });

  it('rejects an unknown format', () => {
    expect(() => renderGraph(fleet, 'svg' as never)).to.throw(
      'Unknown graph format "svg": use one of mermaid, dot.',
    );
  });
});
