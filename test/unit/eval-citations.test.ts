import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoreCitations, SUPPORT_LENIENT, type Source } from '../../src/eval/citations';
import { citedSentences, supportScore } from '../../src/eval/text';

const sources: Source[] = [
  { index: 1, text: 'The Eiffel Tower was completed in 1889 for the World Fair in Paris. It is 330 metres tall.' },
  { index: 2, text: 'The Louvre is the most visited museum in the world, with about 9 million visitors in 2023.' },
  { index: 3, text: 'Paris has a population of about 2.1 million people within the city limits.' },
];

test('a reply that sprinkles [1] on unsupported sentences: presence 100%, precision and recall near 0', () => {
  const sprinkled =
    'Bananas are rich in potassium [1]. The Great Wall of China is visible from orbit [1]. ' +
    'Coffee was first brewed in Ethiopia [1]. Penguins live mostly in the Southern Hemisphere [1].';
  const s = scoreCitations(sprinkled, sources);
  assert.equal(s.presence, 1);
  assert.equal(s.citations, 4);
  assert.equal(s.precision, 0);
  assert.equal(s.recall, 0);
  assert.equal(s.fabricated, 0);
  assert.equal(scoreCitations(sprinkled, sources, SUPPORT_LENIENT).precision, 0);
});

test('a reply citing only real, supporting sources scores high on presence, precision and recall', () => {
  const good =
    'The Eiffel Tower was completed in 1889 for the World Fair [1]. It is 330 metres tall [1]. ' +
    'The Louvre is the most visited museum in the world [2]. About 2.1 million people live in Paris [3].';
  const s = scoreCitations(good, sources);
  assert.equal(s.presence, 1);
  assert.equal(s.precision, 1);
  assert.equal(s.recall, 1);
  assert.equal(s.fabricated, 0);
});

test('citing an index that was not given is fabricated and fails precision and recall', () => {
  const s = scoreCitations('The Louvre is the most visited museum in the world [7].', sources);
  assert.equal(s.fabricated, 1);
  assert.equal(s.precision, 0);
  assert.equal(s.recall, 0);
});

test('a supported claim without a citation lowers recall, not precision', () => {
  const s = scoreCitations('The Eiffel Tower was completed in 1889 [1]. The Louvre is the most visited museum in the world.', sources);
  assert.equal(s.precision, 1);
  assert.equal(s.recall, 0.5);
});

test('citing the wrong real source is not precise', () => {
  const s = scoreCitations('The Eiffel Tower was completed in 1889 for the World Fair [2].', sources);
  assert.equal(s.precision, 0);
  assert.equal(s.fabricated, 0);
});

test('adding a marker that does not support its sentence never raises precision or recall', () => {
  const replies = [
    'The Eiffel Tower was completed in 1889 [1]. Bananas are yellow.',
    'The Louvre is the most visited museum in the world [2]. It is 330 metres tall.',
    'Paris has about 2.1 million people. Coffee comes from Ethiopia [3].',
    'Sure. The Eiffel Tower is 330 metres tall [1][2].',
    '',
  ];
  for (const reply of replies) {
    const before = scoreCitations(reply, sources);
    for (const marker of [' [9]', ' [2]', ' [3]', ' [1, 2, 3]']) {
      const sentences = reply.split('. ');
      for (let i = 0; i < sentences.length; i++) {
        const sprinkled = sentences.map((s, j) => (j === i ? s.replace(/\.?$/, `${marker}.`) : s)).join('. ');
        const after = scoreCitations(sprinkled, sources);
        const added = after.sentences.flatMap((s) => s.supportedCitations).length > before.sentences.flatMap((s) => s.supportedCitations).length;
        if (added) continue;
        assert.ok(after.precision <= before.precision, `precision rose: ${JSON.stringify(reply)} -> ${JSON.stringify(sprinkled)}`);
        assert.ok(after.recall <= before.recall, `recall rose: ${JSON.stringify(reply)} -> ${JSON.stringify(sprinkled)}`);
      }
    }
  }
});

test('markers after the full stop belong to the sentence before them', () => {
  assert.deepEqual(citedSentences('Paris is big. [1] Rome is old.[2][3] Oslo is cold [4, 5-6].'), [
    { text: 'Paris is big.', cited: [1] },
    { text: 'Rome is old.', cited: [2, 3] },
    { text: 'Oslo is cold .', cited: [4, 5, 6] },
  ]);
});

test('support is the share of the sentence content words found in the source, ignoring case, stopwords and plurals', () => {
  assert.equal(supportScore('The towers are TALL', 'a tower that is tall'), 1);
  assert.equal(supportScore('Bananas are yellow', 'a tower that is tall'), 0);
  assert.equal(supportScore('the and of', 'anything'), 0);
});
