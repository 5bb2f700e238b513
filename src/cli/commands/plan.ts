/** `finetune plan <config>`: rows, tokens, steps, hours and dollars before anything is paid for. */
import type { Command } from 'commander';
import { loadConfigFile, resolveLocalPaths } from '../../config/load';
import { checkDataFiles } from '../../data/check';
import { planRun } from '../../plan/plan';
import { planLines } from '../../plan/render';
import { action } from '../action';

export function planCommand(program: Command): void {
  program
    .command('plan')
    .description(
      "estimate a run before it starts: data rows and tokens (the model's tokenizer when the model is a local folder), length distribution, truncation by max_length, eval prompts repeated in training, steps, hours and dollars on spot and on demand, and whether cost.budget_usd holds; reaches no cloud",
    )
    .argument('<config>', 'pipeline config, YAML or JSON')
    .action(
      action(async ({ out }, file: string) => {
        const config = resolveLocalPaths(loadConfigFile(file), process.cwd());
        await checkDataFiles(config.data, { remote: false });
        const plan = await planRun(config, { tokenizer: true });
        out.result(plan, () => planLines(file, plan));
      }),
    );
}
