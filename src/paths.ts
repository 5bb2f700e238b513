/** Where things live in a checkout, wherever the compiled code runs from. */
import * as fs from 'node:fs';
import * as path from 'node:path';

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'trainer'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no durable-finetune checkout above ${start}`);
  }
}

export const projectRoot = findProjectRoot(__dirname);
export const venvBin = (name: string): string => path.join(projectRoot, '.venv', 'bin', name);
export const venvPython = (): string => process.env.FINETUNE_AGENT_PYTHON ?? venvBin('python');
export const stateDir = (): string => process.env.FINETUNE_HOME ?? path.join(projectRoot, '.finetune');
