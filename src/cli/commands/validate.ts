/** `finetune validate <config>`: every bad field named with its fix, before anything is paid for. */
import type { Command } from 'commander';
import { loadConfigFile, resolveLocalPaths } from '../../config/load';
import { checkDataFiles } from '../../data/check';
import { action } from '../action';

export function validateCommand(program: Command): void {
  program
    .command('validate')
    .description('check a pipeline config: schema, defaults, references, and that local files exist and hold valid data (relative paths read from the current folder)')
    .argument('<config>', 'pipeline config, YAML or JSON')
    .action(
      action(async ({ out }, file: string) => {
        const config = resolveLocalPaths(loadConfigFile(file), process.cwd());
        const data = await checkDataFiles(config.data, { remote: false });
        out.result({ valid: true, config, data }, [
          `${file} is valid: ${config.name}, base model ${config.model.base}, store ${config.store}`,
          `sft ${config.sft.max_steps} steps (checkpoint every ${config.sft.save_steps}), dpo ${config.dpo.max_steps} steps, host ${config.host.provider}`,
          ...(data.checked.length > 0 ? [`data read: ${data.checked.join(', ')}`] : []),
          ...(data.skipped.length > 0 ? [`gs:// data is read when the run starts, before any host: ${data.skipped.join(', ')}`] : []),
        ]);
      }),
    );
}
