/** The data files read before a run: each bad line named by field, file, line and key; all of them listed, the first 20 per file shown. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigInvalid } from '../../src/config/parse';
import { checkDataFiles, dataProblems, DataInvalid, ISSUES_SHOWN, type DataKind } from '../../src/data/check';
import { projectRoot } from '../../src/paths';
import { scratchDir } from '../support/scratch';

const turn = (role: string, content: unknown) => ({ role, content });
const SFT = { messages: [turn('system', 's'), turn('user', 'q'), turn('assistant', 'a')] };
const PREF = { prompt: [turn('user', 'q')], chosen: [turn('assistant', 'good')], rejected: [turn('assistant', 'bad')] };
const EVAL = { id: 'e1', cluster: 'c', messages: [turn('user', 'q')], reference: 'a' };
const lines = (...rows: unknown[]) => Buffer.from(rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');

/** [kind, file bytes, expected problems as `line key: fragment`] */
const CASES: [string, DataKind, Buffer, string[]][] = [
  ['good sft, with blank lines and CRLF', 'sft', Buffer.from(`${JSON.stringify(SFT)}\r\n\n   \n${JSON.stringify(SFT)}\n`), []],
  ['an assistant turn with tool_calls and no content', 'sft', lines({ messages: [turn('user', 'q'), { role: 'assistant', tool_calls: [{ function: { name: 'f' } }] }] }), []],
  ['good preferences', 'preferences', lines(PREF, PREF), []],
  ['good eval', 'eval', lines(EVAL), []],
  ['a bad JSON line', 'sft', lines(SFT, '{"messages": [', SFT), ['2 : is not valid JSON (']],
  ['a BOM', 'sft', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), lines(SFT)]), ['1 : starts with a byte order mark (BOM)']],
  [
    'Latin-1 text',
    'preferences',
    Buffer.concat([lines(PREF), Buffer.from('{"prompt": [{"role": "user", "content": "caf\xe9"}]}\n', 'latin1')]),
    ['2 : is not UTF-8 text (first bad byte at column 45'],
  ],
  ['an empty file', 'sft', Buffer.alloc(0), ['0 : holds no rows']],
  ['only blank lines', 'preferences', Buffer.from('\n \n'), ['0 : holds no rows']],
  ['not an object', 'sft', lines([SFT]), ['1 : must be one JSON object per line, not a list']],
  ['messages missing', 'sft', lines({ text: 'x' }), ['1 messages: is required: a list of turns']],
  ['messages a string', 'sft', lines({ messages: 'hi' }), ['1 messages: must be a list of turns [{"role": "user", "content": "..."}, ...], not a string']],
  ['no prompt before the answer', 'sft', lines({ messages: [turn('assistant', 'a')] }), ['1 messages: needs the prompt turns and then the assistant answer']],
  [
    'the last turn is not the answer',
    'sft',
    lines({ messages: [turn('user', 'q'), turn('user', 'q2')] }),
    ['1 messages.1.role: must be assistant: the last turn is the answer SFT learns'],
  ],
  [
    'an unknown role and a number as content',
    'sft',
    lines({ messages: [turn('bot', 'q'), turn('assistant', 3)] }),
    ['1 messages.0.role: use one of system, user, assistant, tool', '1 messages.1.content: must be the text of the turn (a string)'],
  ],
  ['a turn without content', 'sft', lines({ messages: [{ role: 'user' }, turn('assistant', 'a')] }), ['1 messages.0.content: is required: the text of the turn']],
  [
    'rejected missing, chosen a string',
    'preferences',
    lines({ prompt: [turn('user', 'q')], chosen: 'good' }),
    ['1 chosen: must be a list of turns', '1 rejected: is required: a list of turns'],
  ],
  [
    'an empty chosen and a rejected user turn',
    'preferences',
    lines({ ...PREF, chosen: [], rejected: [turn('user', 'b')] }),
    ['1 chosen: needs the preferred answer', '1 rejected.0.role: must be assistant: the last turn is the worse answer'],
  ],
  ['an eval item without a cluster', 'eval', lines(EVAL, { ...EVAL, id: 'e2', cluster: undefined }), ['2 cluster: is required']],
  [
    'an eval file with a bad byte and a duplicate id',
    'eval',
    Buffer.concat([lines(EVAL), Buffer.from([0xff, 0x0a]), lines(EVAL)]),
    ['2 : is not UTF-8 text', '3 id: "e1" is already used on line 1'],
  ],
  ['an empty eval file', 'eval', Buffer.alloc(0), ['0 : holds no rows']],
];

test('each data problem is named by line and key, with what is wrong and the fix', () => {
  for (const [name, kind, bytes, expected] of CASES) {
    const got = dataProblems(kind, bytes);
    assert.equal(got.length, expected.length, `${name}: ${JSON.stringify(got)}`);
    expected.forEach((want, i) =>
      assert.ok(`${got[i].line} ${got[i].key}: ${got[i].problem}`.startsWith(want), `${name}: got "${got[i].line} ${got[i].key}: ${got[i].problem}", want "${want}"`),
    );
  }
});

test('the example data passes', async () => {
  const data = Object.fromEntries((['sft', 'preferences', 'eval'] as const).map((k) => [k, path.join(projectRoot, `examples/tiny/data/${k}.jsonl`)]));
  const r = await checkDataFiles(data as { sft: string; preferences: string; eval: string }, { remote: false });
  assert.equal(r.checked.length, 3);
});

test('every bad file is reported at once: the first 20 problems of each shown, the rest counted; gs:// skipped unless remote', async () => {
  const dir = scratchDir('data-check-');
  try {
    fs.writeFileSync(path.join(dir, 'sft.jsonl'), lines(...Array.from({ length: 25 }, () => ({ text: 'x' }))));
    fs.writeFileSync(path.join(dir, 'prefs.jsonl'), lines(PREF, '{oops'));
    const data = { sft: path.join(dir, 'sft.jsonl'), preferences: path.join(dir, 'prefs.jsonl'), eval: 'gs://bucket/eval.jsonl' };
    await assert.rejects(checkDataFiles(data, { remote: false }), (err: unknown) => {
      assert.ok(err instanceof DataInvalid && err instanceof ConfigInvalid, 'validate exits 2 for it as for any bad config');
      assert.equal(err.name, 'DataInvalid');
      assert.equal(err.issues.filter((i) => i.field === 'data.sft').length, ISSUES_SHOWN);
      assert.deepEqual(err.totals, { 'data.sft': 25, 'data.preferences': 1 });
      assert.deepEqual(
        err.issues.find((i) => i.field === 'data.preferences'),
        { field: 'data.preferences', file: data.preferences, line: 2, key: '', problem: err.issues.at(-1)!.problem, value: undefined },
      );
      assert.match(err.message, new RegExp(`data\\.sft: ${data.sft} line 1, messages: is required`));
      assert.match(err.message, /data\.sft: 5 more problems not shown \(25 in all\)/);
      assert.match(err.message, /data\.preferences: .*prefs\.jsonl line 2: is not valid JSON/);
      assert.doesNotMatch(err.message, /eval/);
      return true;
    });
    fs.writeFileSync(data.sft, lines(SFT));
    fs.writeFileSync(data.preferences, lines(PREF));
    assert.deepEqual(await checkDataFiles(data, { remote: false }), { checked: [data.sft, data.preferences], skipped: [data.eval] });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
