'use strict';
// The README's quick-start, as CI runs it: the fenced blocks whose info string is
// `<lang> quickstart [file]`, in the order they appear. A block with a file name is that file of
// the new app; a `sh quickstart` block is commands, run from the app's folder.
const fs = require('fs');
const path = require('path');

const README = path.join(__dirname, '..', '..', 'README.md');
const FENCE = /^```([a-z]+) quickstart(?: (\S+))?\n([\s\S]*?)^```$/gm;

function quickstartBlocks(text = fs.readFileSync(README, 'utf8')) {
  const blocks = [];
  for (const m of text.matchAll(FENCE)) {
    const [, lang, file, body] = m;
    if (file === undefined && lang !== 'sh') throw new Error(`README: a \`${lang} quickstart\` block needs a file name`);
    blocks.push(file === undefined ? { lang, commands: body } : { lang, file, content: body });
  }
  return blocks;
}

module.exports = { README, quickstartBlocks };
